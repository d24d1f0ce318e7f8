// Package mysql connects the outbox to MySQL 8 and MariaDB 10.6+ through
// github.com/go-sql-driver/mysql.
//
//	db, err := mysql.Open("user:password@tcp(host:3306)/db")
//	ob := outbox.New(db, outbox.Config{Dialect: mysql.Dialect})
//	err = ob.Migrate(ctx)
//
// # How the outbox works on MySQL and MariaDB
//
// Rows get their sequence number from an AUTO_INCREMENT column when they
// are inserted (InnoDB keeps the counter across restarts on MySQL 8 and
// MariaDB 10.2.4+, so a number is never reused), so a transaction that
// inserted first may commit last. Relays claim in READ COMMITTED
// transactions, serialized by a row lock (SELECT … FOR UPDATE) on the
// single row of Table+"_lock": the claim reads the first waiting rows in
// sequence order among the keys nobody holds, keeps for each key the rows
// before the first one not yet due (a window function), and leases those
// keys in Table+"_lease" before it commits. A row committed late is not
// skipped, since there is no cursor: it is waiting, and goes as soon as its
// key is free, after whatever of its key was published before (its commit
// order); while a relay holds the key, it waits, so it never overtakes
// nor runs beside the message in flight. With Config.LockKeys, Add
// serializes the writers of a key on rows of Table+"_keylock" (INSERT … ON
// DUPLICATE KEY UPDATE takes an exclusive row lock), so that insertion
// order is commit order.
//
// Claims and acknowledgements run in READ COMMITTED, which MySQL allows
// with binary logging only in the ROW or MIXED binlog format (the defaults
// of MySQL 8 and MariaDB). Tables use utf8mb4 with a binary collation, so keys and IDs compare byte
// for byte. There is no LISTEN/NOTIFY: relays poll (RelayConfig.PollInterval),
// or are woken by an outbox.LocalNotifier within one process.
package mysql

import (
	"database/sql"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver

	"github.com/resiliencekit/resilience/outbox"
)

// Dialect is the outbox dialect of the databases Open opens, for
// outbox.Config.Dialect and outbox.InboxConfig.Dialect.
const Dialect = outbox.MySQL

// Open opens a MySQL or MariaDB database with go-sql-driver/mysql. dsn is
// that driver's data source name, such as "user:password@tcp(host:3306)/db".
// The outbox stores times as integers, so it needs no parseTime or loc
// setting.
func Open(dsn string) (*sql.DB, error) { return sql.Open("mysql", dsn) }

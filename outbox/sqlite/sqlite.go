// Package sqlite opens SQLite databases for the outbox with the pure Go
// driver modernc.org/sqlite (no cgo): the embedded default, for services
// and quickstarts that run no database server.
//
//	db, err := sqlite.Open("app.db")
//	ob := outbox.New(db, outbox.Config{Dialect: sqlite.Dialect})
//	err = ob.Migrate(ctx)
//
// Every driver package of the outbox has this shape: Open returns a
// *sql.DB, Dialect goes into outbox.Config (and outbox.InboxConfig).
//
// # How the outbox works on SQLite
//
// SQLite has one writer at a time: a transaction holds the database's
// write lock from its first write (from BEGIN, with the settings of Open)
// to its commit. So transactions that add messages are serialized, the
// insertion order of the outbox is the commit order, and Config.LockKeys
// is not needed. Relays claim with a plain transaction: the write lock
// serializes their claims too. Several processes may share the file (WAL
// journal, busy timeout): the crash test of this module runs two relay
// processes on one file and kills them at random.
//
// SQLite on a network file system is not safe; keep the file on a local
// disk. For several hosts use PostgreSQL or MySQL.
package sqlite

import (
	"database/sql"
	"strings"

	"github.com/resiliencekit/resilience/outbox"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect is the outbox dialect of the databases Open opens, for
// outbox.Config.Dialect and outbox.InboxConfig.Dialect.
const Dialect = outbox.SQLite

// DSN returns the data source name Open uses for the file at path: a busy
// timeout of 10 s (writers wait for each other instead of failing; it is set
// first, so that switching a new connection to WAL waits too), WAL journal
// (readers do not block the writer), foreign keys on, and
// BEGIN IMMEDIATE transactions (a transaction takes the write lock when it
// begins, so it never fails to upgrade from reading to writing halfway).
func DSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// Open opens the SQLite database file at path (creating it if needed) with
// the settings of DSN. Close the returned *sql.DB when done. An in-memory
// database (":memory:") is private to each connection and does not suit
// an outbox: use a file, in a temporary directory for tests.
func Open(path string) (*sql.DB, error) {
	return sql.Open("sqlite", DSN(path))
}

package idempotency

import "github.com/resiliencekit/resilience/internal/sqldialect"

// Dialect is the SQL flavour of the database an SQLStore writes to. The
// zero value is not a dialect: SQLConfig.Dialect must be set. Its one
// method, String, returns the dialect's name, such as "postgres".
//
// It is the same type as outbox.Dialect (both are aliases of one internal
// type), so the Dialect constants of the driver modules outbox/postgres,
// outbox/mysql and outbox/sqlite, whose Open functions return the *sql.DB
// an SQLStore needs, serve here too:
//
//	db, err := postgres.Open(dsn)
//	store := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: postgres.Dialect})
type Dialect = sqldialect.Dialect

// The supported dialects.
const (
	// Postgres is PostgreSQL 12 or newer.
	Postgres Dialect = sqldialect.Postgres
	// MySQL is MySQL 8.0 or newer, or MariaDB 10.6 or newer.
	MySQL Dialect = sqldialect.MySQL
	// SQLite is SQLite 3.35 or newer, such as the pure Go driver
	// modernc.org/sqlite that outbox/sqlite wraps.
	SQLite Dialect = sqldialect.SQLite
)

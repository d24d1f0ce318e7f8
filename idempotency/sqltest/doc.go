// Package sqltest holds the conformance tests of idempotency.SQLStore on
// the real servers: the suite of idempotencytest, its SIGKILL crash test
// included, and the store's own tests (Migrate, Purge, CompleteTx), on
// PostgreSQL, MariaDB (or MySQL) and SQLite. It is a module of its own so
// that the core module needs no SQL driver; it has no code but this doc.
//
// The servers are found through POSTGRES_DSN and MYSQL_DSN, with the
// defaults of internal/testenv; SQLite runs on a file in a temporary
// directory. Every test uses a table of its own and drops it at the end.
package sqltest

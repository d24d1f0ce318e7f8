package outbox

import (
	"strings"

	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// Dialect is the SQL flavour of the database an Outbox or Inbox writes to.
// The zero value is not a dialect: Config.Dialect must be set. Its one
// method, String, returns the dialect's name, such as "postgres".
//
// It is the same type as idempotency.Dialect (both are aliases of one
// internal type), so the Dialect constant of a driver module such as
// outbox/postgres goes into the configuration of either package.
type Dialect = sqldialect.Dialect

// The supported dialects.
const (
	// Postgres is PostgreSQL 12 or newer.
	Postgres Dialect = sqldialect.Postgres
	// MySQL is MySQL 8.0 or newer, or MariaDB 10.6 or newer (both need
	// window functions and SKIP LOCKED-era InnoDB; the outbox uses neither
	// RETURNING nor CTEs on them).
	MySQL Dialect = sqldialect.MySQL
	// SQLite is SQLite 3.35 or newer, such as the pure Go driver
	// modernc.org/sqlite that outbox/sqlite wraps.
	SQLite Dialect = sqldialect.SQLite
)

// nowExpr is the database's current time in microseconds since the Unix
// epoch, the unit of every time column.
func nowExpr(d Dialect) string {
	switch d {
	case Postgres:
		return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
	case MySQL:
		return "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
	default:
		return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
	}
}

// lockID is the PostgreSQL advisory lock that serializes the claims of the
// relays of one table.
func lockID(table string) int64 { return sqldialect.LockID("resilience/outbox:" + table) }

// placeholders returns "(?,?,…),(?,?,…)…": rows groups of cols markers.
func placeholders(rows, cols int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	var b strings.Builder
	b.Grow(rows * (len(one) + 1))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// list returns "?,?,…" with n markers.
func list(n int) string {
	return strings.Repeat("?,", n-1) + "?"
}

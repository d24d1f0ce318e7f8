package outbox

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

// Dialect is the SQL flavour of the database an Outbox or Inbox writes to.
// The zero value is not a dialect: Config.Dialect must be set.
type Dialect uint8

// The supported dialects.
const (
	// Postgres is PostgreSQL 12 or newer.
	Postgres Dialect = iota + 1
	// MySQL is MySQL 8.0 or newer, or MariaDB 10.6 or newer (both need
	// window functions and SKIP LOCKED-era InnoDB; the outbox uses neither
	// RETURNING nor CTEs on them).
	MySQL
	// SQLite is SQLite 3.35 or newer, such as the pure Go driver
	// modernc.org/sqlite that outbox/sqlite wraps.
	SQLite
)

// String returns the name of the dialect, such as "postgres".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d >= Postgres && d <= SQLite }

// identRE is what a table name may be: letters, digits and underscores, not
// starting with a digit, optionally qualified by one schema (database) name.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// maxIdent leaves room for the longest suffix the outbox adds ("_dead_id")
// within the 63 (PostgreSQL) and 64 (MySQL) byte limits.
const maxIdent = 54

// checkTable panics unless name is a valid table name for d.
func checkTable(pkg string, d Dialect, name string) {
	if !identRE.MatchString(name) {
		panic(fmt.Sprintf("%s: invalid table name %q (want letters, digits and underscores, optionally schema.table)", pkg, name))
	}
	schema, table := splitTable(name)
	if len(schema) > 63 || len(table) > maxIdent {
		panic(fmt.Sprintf("%s: table name %q is too long (at most %d bytes)", pkg, name, maxIdent))
	}
	if schema != "" && d == SQLite {
		panic(fmt.Sprintf("%s: table name %q: SQLite tables cannot be schema-qualified", pkg, name))
	}
}

func splitTable(name string) (schema, table string) {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// quote quotes an identifier that matched identRE (so it holds no quote
// character) for d.
func (d Dialect) quote(ident string) string {
	if d == MySQL {
		return "`" + ident + "`"
	}
	return `"` + ident + `"`
}

// qualified quotes a possibly schema-qualified table name, part by part.
func (d Dialect) qualified(name string) string {
	schema, table := splitTable(name)
	if schema == "" {
		return d.quote(table)
	}
	return d.quote(schema) + "." + d.quote(table)
}

// nowExpr is the database's current time in microseconds since the Unix
// epoch, the unit of every time column.
func (d Dialect) nowExpr() string {
	switch d {
	case Postgres:
		return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
	case MySQL:
		return "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
	default:
		return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
	}
}

// rebind turns the ? placeholders of q into $1, $2, … for PostgreSQL. The
// queries built here hold no ? anywhere else (no string literals with one).
func (d Dialect) rebind(q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// lockID is the PostgreSQL advisory lock that serializes the claims of the
// relays of one table.
func lockID(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("resilience/outbox:" + table))
	return int64(h.Sum64())
}

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

// Package sqldialect holds what the SQL stores of the module (outbox and
// idempotency) share about the databases they write to: the Dialect type,
// whose constants both packages re-declare (so that the Dialect constants of
// the driver modules outbox/postgres, outbox/mysql and outbox/sqlite serve
// both), table name checks, identifier quoting, placeholder rebinding and the
// recognition of SQLite's busy errors.
//
// Helpers are functions rather than methods, so that the exported packages
// whose Dialect is an alias of this one expose no method beyond String.
package sqldialect

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/resiliencekit/resilience/internal/errs"
)

// Dialect is the SQL flavour of a database. The zero value is not a
// dialect.
type Dialect uint8

// The supported dialects.
const (
	Postgres Dialect = iota + 1
	MySQL
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

// Valid reports whether d is one of the dialects.
func Valid(d Dialect) bool { return d >= Postgres && d <= SQLite }

// identRE is what a table name may be: letters, digits and underscores, not
// starting with a digit, optionally qualified by one schema (database) name.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// MaxTable is the longest table name (without its schema) CheckTable
// accepts: it leaves room for the longest suffix a store adds to it for its
// other tables and indexes ("_dead_id") within the 63 (PostgreSQL) and 64
// (MySQL) byte limits.
const MaxTable = 54

// CheckTable panics with a message prefixed by pkg unless name is a valid
// table name for d.
func CheckTable(pkg string, d Dialect, name string) {
	if !identRE.MatchString(name) {
		panic(fmt.Sprintf("%s: invalid table name %q (want letters, digits and underscores, optionally schema.table)", pkg, name))
	}
	schema, table := SplitTable(name)
	if len(schema) > 63 || len(table) > MaxTable {
		panic(fmt.Sprintf("%s: table name %q is too long (at most %d bytes)", pkg, name, MaxTable))
	}
	if schema != "" && d == SQLite {
		panic(fmt.Sprintf("%s: table name %q: SQLite tables cannot be schema-qualified", pkg, name))
	}
}

// SplitTable splits a possibly schema-qualified table name.
func SplitTable(name string) (schema, table string) {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// Quote quotes an identifier that passed CheckTable (so it holds no quote
// character) for d.
func Quote(d Dialect, ident string) string {
	if d == MySQL {
		return "`" + ident + "`"
	}
	return `"` + ident + `"`
}

// Qualified quotes a possibly schema-qualified table name, part by part,
// with suffix appended to the table's part.
func Qualified(d Dialect, name, suffix string) string {
	schema, table := SplitTable(name)
	if schema == "" {
		return Quote(d, table+suffix)
	}
	return Quote(d, schema) + "." + Quote(d, table+suffix)
}

// Rebind turns the ? placeholders of q into $1, $2, … for PostgreSQL. The
// queries of the stores hold no ? anywhere else (no string literals with
// one).
func Rebind(d Dialect, q string) string {
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

// LockID is a PostgreSQL advisory lock number made from name.
func LockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Busy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (with
// any extended code), read from the Code() int method that the pure Go
// driver's errors have.
func Busy(err error) bool {
	c, ok := errs.As[interface{ Code() int }](err)
	return ok && (c.Code()&0xff == 5 || c.Code()&0xff == 6)
}

// RetryBusy calls f until it returns nil or an error that is not Busy, at
// most attempts times (zero or less: until ctx ends), pausing between calls
// from 10 ms, doubled each time up to 1 s, with jitter. SQLite answers
// SQLITE_BUSY without waiting for its busy timeout in a few cases (a lock
// it would have to wait for while holding another); the cure is to start
// the statement or transaction again. f must be safe to call again after a
// Busy error. It returns f's last error.
func RetryBusy(ctx context.Context, attempts int, f func() error) error {
	pause := 10 * time.Millisecond
	for n := 1; ; n++ {
		err := f()
		if err == nil || !Busy(err) || (attempts > 0 && n >= attempts) {
			return err
		}
		t := time.NewTimer(pause + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

package sqltest

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/idempotencytest"
	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox/mysql"
	"github.com/resiliencekit/resilience/outbox/postgres"
	"github.com/resiliencekit/resilience/outbox/sqlite"
)

// The environment of a crash child: which database and table it opens.
const (
	envDialect = "IDEMPOTENCY_SQLTEST_DIALECT"
	envDSN     = "IDEMPOTENCY_SQLTEST_DSN"
	envTable   = "IDEMPOTENCY_SQLTEST_TABLE"
)

func TestMain(m *testing.M) {
	runHandlerChild() // TestKilledHandler's child, before the suite's
	idempotencytest.RunIfChild(openChild)
	goleak.VerifyTestMain(m)
}

// A target is one database the tests run on.
type target struct {
	name string
	d    idempotency.Dialect
	// dsn returns the data source name for t (a server's, or a file in a
	// temporary directory of t).
	dsn func(t testing.TB) string
}

func targets() []target {
	return []target{
		{"postgres", postgres.Dialect, func(t testing.TB) string { return testenv.Require(t, testenv.Postgres) }},
		{"mysql", mysql.Dialect, func(t testing.TB) string { return testenv.Require(t, testenv.MySQL) }},
		// clientFoundRows makes MySQL count the rows an update matched
		// instead of those it changed, which Acquire and Extend must not
		// mistake.
		{"mysql_found_rows", mysql.Dialect, func(t testing.TB) string {
			return withParam(testenv.Require(t, testenv.MySQL), "clientFoundRows=true")
		}},
		{"sqlite", sqlite.Dialect, func(t testing.TB) string { return filepath.Join(t.TempDir(), "idempotency.db") }},
	}
}

func withParam(dsn, param string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + param
	}
	return dsn + "?" + param
}

func open(d idempotency.Dialect, dsn string) (*sql.DB, error) {
	switch d {
	case postgres.Dialect:
		return postgres.Open(dsn)
	case mysql.Dialect:
		return mysql.Open(dsn)
	case sqlite.Dialect:
		return sqlite.Open(dsn)
	}
	return nil, fmt.Errorf("no dialect %v", d)
}

func dialectNamed(name string) (idempotency.Dialect, bool) {
	for _, d := range []idempotency.Dialect{idempotency.Postgres, idempotency.MySQL, idempotency.SQLite} {
		if d.String() == name {
			return d, true
		}
	}
	return 0, false
}

// openChild opens, in a crash child, the store its parent named in the
// environment.
func openChild() (idempotency.Store, error) {
	d, ok := dialectNamed(os.Getenv(envDialect))
	if !ok {
		return nil, errors.New("crash child: " + envDialect + " names no dialect")
	}
	db, err := open(d, os.Getenv(envDSN))
	if err != nil {
		return nil, err
	}
	return idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: d, Table: os.Getenv(envTable)}), nil
}

// A fixture is a migrated table of its own for one test, dropped when the
// test ends.
type fixture struct {
	tg    target
	dsn   string
	db    *sql.DB
	table string
	store *idempotency.SQLStore
}

func newFixture(t testing.TB, tg target, c idempotency.SQLConfig) *fixture {
	t.Helper()
	f := &fixture{tg: tg, dsn: tg.dsn(t), table: "idem_" + strings.ToLower(rand.Text()[:12])}
	db, err := open(tg.d, f.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	f.db = db
	c.Dialect, c.Table = tg.d, f.table
	f.store = idempotency.NewSQLStore(db, c)
	require.NoError(t, f.store.Migrate(t.Context()))
	t.Cleanup(func() {
		// t.Context is done by now.
		_, err := db.Exec("DROP TABLE IF EXISTS " + f.table)
		if err != nil {
			t.Errorf("drop %s: %v", f.table, err)
		}
	})
	return f
}

// childEnv is what a crash child needs to open the fixture's store.
func (f *fixture) childEnv() []string {
	return []string{envDialect + "=" + f.tg.d.String(), envDSN + "=" + f.dsn, envTable + "=" + f.table}
}

package postgres_test

import (
	"database/sql"
	"net/url"
	"testing"

	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

func open(dsn string) (*sql.DB, error) { return postgres.Open(dsn) }

func TestMain(m *testing.M) {
	outboxtest.Child(outboxtest.Suite{Dialect: outbox.Postgres, Open: open})
	goleak.VerifyTestMain(m)
}

// withParam returns dsn (a URL) with a query parameter set.
func withParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func suite(t testing.TB) outboxtest.Suite {
	dsn := testenv.Require(t, testenv.Postgres)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return outboxtest.Suite{
		Dialect:  outbox.Postgres,
		DSN:      dsn,
		Open:     open,
		Upstream: u.Host,
		ProxyDSN: func(dsn, addr string) string {
			u, _ := url.Parse(dsn)
			u.Host = addr
			return u.String()
		},
	}
}

package mysql_test

import (
	"database/sql"
	"io"
	"log"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/mysql"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

func open(dsn string) (*sql.DB, error) { return mysql.Open(dsn) }

func TestMain(m *testing.M) {
	// The connection-loss test cuts connections on purpose.
	_ = gomysql.SetLogger(log.New(io.Discard, "", 0))
	outboxtest.Child(outboxtest.Suite{Dialect: outbox.MySQL, Open: open})
	goleak.VerifyTestMain(m)
}

func suite(t testing.TB) outboxtest.Suite {
	dsn := testenv.Require(t, testenv.MySQL)
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return outboxtest.Suite{
		Dialect:  outbox.MySQL,
		DSN:      dsn,
		Open:     open,
		Upstream: cfg.Addr,
		ProxyDSN: func(dsn, addr string) string {
			cfg, _ := gomysql.ParseDSN(dsn)
			cfg.Addr = addr
			return cfg.FormatDSN()
		},
	}
}

package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/sqlite"
)

// suite returns the conformance suite on a database file in dir; crash
// children find the file through their environment instead.
func suite(dir string) outboxtest.Suite {
	return outboxtest.Suite{
		Dialect: outbox.SQLite,
		DSN:     filepath.Join(dir, "outbox.db"),
		Open:    func(dsn string) (*sql.DB, error) { return sqlite.Open(dsn) },
		OwnDSN:  func(name string) string { return filepath.Join(dir, name+".db") },
	}
}

func TestMain(m *testing.M) {
	outboxtest.Child(suite(os.TempDir()))
	goleak.VerifyTestMain(m)
}

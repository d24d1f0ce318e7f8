package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/resiliencekit/resilience/internal/errs"
)

// Migrate creates the outbox, dead-letter and lease tables and their
// indexes when they do not exist, and leaves them alone when they do: it
// is safe to call at every start of every process, also concurrently
// (on PostgreSQL an advisory lock serializes concurrent calls). On
// PostgreSQL it also installs a trigger that notifies the channel named
// Table() after every statement that inserts into the outbox, which
// outbox/postgres listens to; the notification is sent when the
// inserting transaction commits, and never for one that rolls back.
//
// Time columns hold microseconds since the Unix epoch (UTC) in 64-bit
// integers, so that the three dialects agree and no driver or session time
// zone can shift them; published_at is NULL until a message is published.
// To run the statements from a migration tool instead, see Schema.
func (o *Outbox) Migrate(ctx context.Context) error {
	return migrate(ctx, o.db, o.d, o.table, o.Schema())
}

// Schema returns the statements Migrate runs, in order, for migration tools
// that keep their own files.
func (o *Outbox) Schema() []string { return o.q.schema() }

func migrate(ctx context.Context, db *sql.DB, d Dialect, table string, stmts []string) error {
	if d != SQLite {
		return migrateOnce(ctx, db, d, table, stmts)
	}
	// SQLite answers SQLITE_BUSY without waiting in a few cases its busy
	// timeout does not cover (a lock it would have to wait for while
	// holding another); the cure is to roll back and start again.
	pause := 10 * time.Millisecond
	for {
		err := migrateOnce(ctx, db, d, table, stmts)
		if err == nil || !sqliteBusy(err) {
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

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED
// (with any extended code), read from the Code() int method that the pure
// Go driver's errors have.
func sqliteBusy(err error) bool {
	c, ok := errs.As[interface{ Code() int }](err)
	return ok && (c.Code()&0xff == 5 || c.Code()&0xff == 6)
}

func migrateOnce(ctx context.Context, db *sql.DB, d Dialect, table string, stmts []string) error {
	if d == MySQL {
		// MySQL commits DDL at once; every statement is idempotent alone.
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("outbox: migrate: %w", err)
			}
		}
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if d == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID(table+"/migrate")); err != nil {
			return fmt.Errorf("outbox: migrate: %w", err)
		}
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("outbox: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	return nil
}

package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/resiliencekit/resilience/internal/sqldialect"
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
	// timeout does not cover; RetryBusy starts the migration again, until
	// ctx ends.
	return sqldialect.RetryBusy(ctx, 0, func() error { return migrateOnce(ctx, db, d, table, stmts) })
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

package outboxtest

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

func newInbox(t *testing.T, s Suite) (*sql.DB, *outbox.Inbox, string) {
	t.Helper()
	db := open(t, s, s.DSN)
	table := Table("ib")
	in := outbox.NewInbox(db, outbox.InboxConfig{Dialect: s.Dialect, Table: table})
	ctx := waitCtx(t, 30*time.Second)
	require.NoError(t, in.Migrate(ctx))
	require.NoError(t, in.Migrate(ctx), "idempotent")
	_, err := db.ExecContext(ctx, "CREATE TABLE "+quote(s.Dialect, table+"_rec")+" (n INTEGER)")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + quote(s.Dialect, table))
		_, _ = db.Exec("DROP TABLE IF EXISTS " + quote(s.Dialect, table+"_rec"))
	})
	return db, in, table
}

// effect is what a consumer does: insert a row into the _rec table.
func effect(s Suite, table string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO "+quote(s.Dialect, table+"_rec")+" (n) VALUES (1)")
		return err
	}
}

func count(t *testing.T, db *sql.DB, s Suite, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+quote(s.Dialect, table+"_rec")).Scan(&n))
	return n
}

func testInbox(t *testing.T, s Suite) {
	db, in, table := newInbox(t, s)
	ctx := context.Background()
	process := func(id string, fn func(context.Context, *sql.Tx) error) (bool, error) {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		ran, err := in.Process(ctx, tx, id, fn)
		if err != nil {
			require.NoError(t, tx.Rollback())
			return ran, err
		}
		require.NoError(t, tx.Commit())
		return ran, nil
	}
	ran, err := process("m1", effect(s, table))
	require.NoError(t, err)
	assert.True(t, ran)
	ran, err = process("m1", effect(s, table))
	require.NoError(t, err)
	assert.False(t, ran, "a redelivery is skipped")
	assert.Equal(t, 1, count(t, db, s, table))

	// A failed effect rolls the record back with it: the redelivery runs.
	boom := errors.New("boom")
	ran, err = process("m2", func(ctx context.Context, tx *sql.Tx) error {
		if err := effect(s, table)(ctx, tx); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.True(t, ran)
	assert.Equal(t, 1, count(t, db, s, table))
	ran, err = process("m2", effect(s, table))
	require.NoError(t, err)
	assert.True(t, ran)
	assert.Equal(t, 2, count(t, db, s, table))

	for _, id := range []string{"", "a\x00b", "a\xffb"} {
		_, err = process(id, effect(s, table))
		require.ErrorIs(t, err, outbox.ErrInvalidMessage, "%q", id)
	}
	// Refused before the transaction is used: it goes on.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = in.Process(ctx, tx, "bad\x00", effect(s, table))
	require.ErrorIs(t, err, outbox.ErrInvalidMessage)
	ran, err = in.Process(ctx, tx, "m3", effect(s, table))
	require.NoError(t, err)
	require.True(t, ran)
	require.NoError(t, tx.Commit())
	assert.Equal(t, 3, count(t, db, s, table))

	n, err := in.Purge(ctx, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n)
	time.Sleep(5 * time.Millisecond)
	n, err = in.Purge(ctx, 0)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
}

// testInboxConcurrent: eight consumers get the same message at once;
// exactly one applies it.
func testInboxConcurrent(t *testing.T, s Suite) {
	db, in, table := newInbox(t, s)
	ctx := context.Background()
	var ran atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				did, err := in.Process(ctx, tx, "same", effect(s, table))
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
				if err != nil && retryable(err) {
					time.Sleep(5 * time.Millisecond)
					continue // SQLite busy or a deadlock victim: the consumer retries
				}
				if err != nil {
					errs <- err
					return
				}
				if did {
					ran.Add(1)
				}
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, ran.Load())
	assert.Equal(t, 1, count(t, db, s, table))
}

// retryable reports the transient errors of concurrent transactions that
// a consumer retries: SQLite's busy database, deadlock victims.
func retryable(err error) bool {
	for _, sub := range []string{"database is locked", "SQLITE_BUSY", "Deadlock", "deadlock", "could not serialize"} {
		if strings.Contains(err.Error(), sub) {
			return true
		}
	}
	return false
}

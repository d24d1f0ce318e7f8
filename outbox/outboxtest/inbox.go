package outboxtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		_, _ = db.Exec("DROP TABLE IF EXISTS " + quote(s.Dialect, table+"_keys"))
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
	ran := raceConsumers(t, db, 8, func(_ int, tx *sql.Tx) (bool, error) {
		return in.Process(ctx, tx, "same", effect(s, table))
	})
	assert.EqualValues(t, 1, ran)
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

// testInboxFenced: ProcessFenced keeps a high-water mark of fences per key
// and skips what is not above it; a newer copy of a processed message
// raises the mark without running again; a fence of 0 is deduplicated by
// ID only.
func testInboxFenced(t *testing.T, s Suite) {
	db, in, table := newInbox(t, s)
	ctx := context.Background()
	process := func(id, key string, fence uint64) bool {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		ran, err := in.ProcessFenced(ctx, tx, id, key, fence, effect(s, table))
		require.NoError(t, err, "%s", id)
		require.NoError(t, tx.Commit())
		return ran
	}
	assert.True(t, process("a", "k", 10), "the first message of a key")
	assert.False(t, process("b", "k", 9), "a late copy under the mark")
	assert.False(t, process("a", "k", 10), "a redelivery")
	assert.False(t, process("a", "k", 20), "the other relay's copy of a processed message raises the mark")
	assert.False(t, process("c", "k", 15), "so that what was sent before it is late now")
	assert.True(t, process("d", "k", 21))
	assert.True(t, process("e", "other", 1), "marks are per key")
	assert.True(t, process("f", "", 5), "the empty key is a key")
	assert.True(t, process("g", "k", 0), "no fence: by ID only")
	assert.False(t, process("g", "k", 0))
	assert.Equal(t, 5, count(t, db, s, table))

	// A failed effect rolls the mark back with it.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	boom := errors.New("boom")
	_, err = in.ProcessFenced(ctx, tx, "h", "k", 30, func(context.Context, *sql.Tx) error { return boom })
	require.ErrorIs(t, err, boom)
	require.NoError(t, tx.Rollback())
	assert.True(t, process("i", "k", 25), "the mark stayed at 21")

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	for _, c := range []struct{ id, key string }{
		{"", "k"}, {"x", "a\x00b"}, {"x", "a\xffb"}, {"x", strings.Repeat("k", outbox.MaxKeyLen+1)},
	} {
		_, err := in.ProcessFenced(ctx, tx, c.id, c.key, 40, effect(s, table))
		require.ErrorIs(t, err, outbox.ErrInvalidMessage, "%q %q", c.id, c.key)
	}
	_, err = in.ProcessFenced(ctx, tx, "x", "k", 1<<63, effect(s, table))
	require.ErrorIs(t, err, outbox.ErrInvalidMessage)
	require.NoError(t, tx.Rollback()) // SQLite: it holds the write lock

	// Eight consumers get the first messages of a new key at once, each
	// with a fence of its own: the insert of the key's row is raced, and
	// the mark still ends at the highest fence.
	ran := raceConsumers(t, db, 8, func(i int, tx *sql.Tx) (bool, error) {
		return in.ProcessFenced(ctx, tx, fmt.Sprintf("new-%d", i), "new", uint64(100+i), effect(s, table))
	})
	assert.GreaterOrEqual(t, ran, int32(1))
	var mark int64
	require.NoError(t, db.QueryRow("SELECT fence FROM "+quote(s.Dialect, table+"_keys")+" WHERE msg_key = 'new'").Scan(&mark))
	assert.EqualValues(t, 107, mark, "the highest fence is the mark")
	assert.False(t, process("late", "new", 106), "under the mark")

	time.Sleep(5 * time.Millisecond)
	_, err = in.Purge(ctx, 0)
	require.NoError(t, err)
	var keys int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+quote(s.Dialect, table+"_keys")).Scan(&keys))
	assert.Zero(t, keys, "Purge drops the marks of quiet keys")
}

// raceConsumers calls process from n goroutines at once, the i-th with i,
// each in a transaction of its own: committed when process succeeds,
// rolled back when it fails. A consumer whose transaction fails with a
// retryable error (SQLite busy, a deadlock victim) tries again; any other
// failure fails t. It returns how many calls said they applied the
// message.
func raceConsumers(t *testing.T, db *sql.DB, n int, process func(i int, tx *sql.Tx) (bool, error)) int32 {
	t.Helper()
	ctx := context.Background()
	var ran atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			for {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				did, err := process(i, tx)
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
				if err != nil && retryable(err) {
					time.Sleep(5 * time.Millisecond)
					continue
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
	return ran.Load()
}

package sqltest

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
)

// forEach runs test on every target, in parallel, each with a table of its
// own.
func forEach(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Parallel()
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, tg, idempotency.SQLConfig{}))
		})
	}
}

func record(key string, expires time.Time) idempotency.Record {
	return idempotency.Record{Key: key, Token: rand.Text()[:20], Fingerprint: "fp", Expires: expires}
}

func acquire(t *testing.T, st idempotency.Store, r idempotency.Record, now time.Time) {
	t.Helper()
	_, ok, err := st.Acquire(t.Context(), r, now)
	require.NoError(t, err)
	require.True(t, ok, "%s acquired", r.Key)
}

func liveRecord(t *testing.T, st idempotency.Store, key string, now time.Time) (idempotency.Record, bool) {
	t.Helper()
	r, ok, err := st.Acquire(t.Context(), record(key, now.Add(time.Hour)), now)
	require.NoError(t, err)
	return r, !ok
}

func TestMigrate(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx, t0 := t.Context(), time.Now()
		acquire(t, f.store, record("kept", t0.Add(time.Hour)), t0)
		require.NoError(t, f.store.Migrate(ctx), "a second Migrate")
		_, live := liveRecord(t, f.store, "kept", t0)
		require.True(t, live, "Migrate leaves the records alone")

		// Two processes starting at once, each with a pool of its own, on a
		// table that does not exist yet.
		table := f.table + "_b"
		t.Cleanup(func() { _, _ = f.db.Exec("DROP TABLE IF EXISTS " + table) })
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				db, err := open(f.tg.d, f.dsn)
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				errs[i] = idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: f.tg.d, Table: table}).Migrate(ctx)
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		st := idempotency.NewSQLStore(f.db, idempotency.SQLConfig{Dialect: f.tg.d, Table: table})
		acquire(t, st, record("new", t0.Add(time.Hour)), t0)
	})
}

func TestPurge(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx, t0 := t.Context(), time.Now().Truncate(time.Millisecond)
		st := f.store
		// Expired at t0: three in progress, two completed, one of them
		// exactly at t0. Live at t0: one in progress, one completed, one a
		// millisecond after t0.
		for i, d := range []time.Duration{-time.Hour, -time.Minute, -time.Millisecond} {
			acquire(t, st, record(fmt.Sprintf("old%d", i), t0.Add(d)), t0.Add(d-time.Second))
		}
		for i, d := range []time.Duration{-time.Second, 0} {
			r := record(fmt.Sprintf("done%d", i), t0.Add(time.Hour))
			acquire(t, st, r, t0.Add(-time.Hour))
			r.Done, r.Outcome, r.Expires = true, []byte("x"), t0.Add(d)
			require.NoError(t, st.Complete(ctx, r, t0.Add(-time.Hour)))
		}
		live := []string{"live0", "live1", "live2"}
		acquire(t, st, record(live[0], t0.Add(time.Hour)), t0)
		r := record(live[1], t0.Add(time.Hour))
		acquire(t, st, r, t0)
		r.Done, r.Outcome, r.Expires = true, []byte("y"), t0.Add(time.Hour)
		require.NoError(t, st.Complete(ctx, r, t0))
		acquire(t, st, record(live[2], t0.Add(time.Millisecond)), t0)

		n, err := st.Purge(ctx, t0, 2)
		require.NoError(t, err)
		require.EqualValues(t, 2, n, "at most limit records")
		n, err = st.Purge(ctx, t0, 100)
		require.NoError(t, err)
		require.EqualValues(t, 3, n, "the rest of the expired ones")
		n, err = st.Purge(ctx, t0, 100)
		require.NoError(t, err)
		require.Zero(t, n)

		var rows int
		require.NoError(t, f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+f.table).Scan(&rows))
		require.Equal(t, len(live), rows, "the live records stay")
		for _, k := range live {
			_, ok := liveRecord(t, st, k, t0)
			require.True(t, ok, "%s is still live", k)
		}
		n, err = st.Purge(ctx, t0.Add(2*time.Hour), 100)
		require.NoError(t, err)
		require.EqualValues(t, len(live), n, "all expire in the end")
	})
}

// TestCompleteTx shows the outcome committing, or rolling back, with the
// state change of the same transaction.
func TestCompleteTx(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx, t0 := t.Context(), time.Now()
		st, db := f.store, f.db
		state := f.table + "_state"
		_, err := db.ExecContext(ctx, "CREATE TABLE "+state+" (id INTEGER NOT NULL)")
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + state) })
		insert := "INSERT INTO " + state + " (id) VALUES (?)"
		if f.tg.d == idempotency.Postgres {
			insert = "INSERT INTO " + state + " (id) VALUES ($1)"
		}
		count := func() (n int) {
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+state).Scan(&n))
			return n
		}

		r := record("order-1", t0.Add(time.Hour))
		acquire(t, st, r, t0)
		d := r
		d.Done, d.Outcome, d.Expires = true, []byte("created"), t0.Add(24*time.Hour)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, insert, 1)
		require.NoError(t, err)
		require.NoError(t, st.CompleteTx(ctx, tx, d, t0))
		require.NoError(t, tx.Rollback())
		live, ok := liveRecord(t, st, r.Key, t0)
		require.True(t, ok)
		require.False(t, live.Done, "rolled back: the record is still in progress")
		require.Equal(t, r.Token, live.Token)
		require.Zero(t, count(), "and the state change is gone with it")

		tx, err = db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, insert, 1)
		require.NoError(t, err)
		require.NoError(t, st.CompleteTx(ctx, tx, d, t0))
		// A refused outcome leaves tx usable: a smaller one goes instead.
		big := d
		big.Outcome = make([]byte, idempotency.DefaultMaxOutcomeBytes+1)
		require.ErrorIs(t, st.CompleteTx(ctx, tx, big, t0), idempotency.ErrTooLarge)
		require.NoError(t, tx.Commit())
		live, ok = liveRecord(t, st, r.Key, t0)
		require.True(t, ok)
		require.True(t, live.Done, "committed: the record is done")
		require.Equal(t, []byte("created"), live.Outcome)
		require.Equal(t, 1, count())

		// Completed once, the record refuses a second completion in a
		// transaction, which can still go on.
		tx, err = db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		require.ErrorIs(t, st.CompleteTx(ctx, tx, d, t0), idempotency.ErrLeaseLost)
		_, err = tx.ExecContext(ctx, insert, 2)
		require.NoError(t, err, "ErrLeaseLost did not abort the transaction")
		require.NoError(t, tx.Rollback())
	})
}

// TestEdges covers what the suite does not: an Extend that changes nothing
// (MySQL counts no row for it), an empty fingerprint, and a lease that has
// already ended when it is acquired.
func TestEdges(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx, t0 := t.Context(), time.Now().Truncate(time.Millisecond)
		st := f.store
		r := record("same-until", t0.Add(time.Hour))
		acquire(t, st, r, t0)
		require.NoError(t, st.Extend(ctx, r.Key, r.Token, r.Expires), "an Extend to the same end")
		require.NoError(t, st.Extend(ctx, r.Key, r.Token, r.Expires.Add(time.Millisecond/2)), "the same millisecond")
		require.ErrorIs(t, st.Extend(ctx, r.Key, "other", r.Expires), idempotency.ErrLeaseLost)

		e := record("no-fingerprint", t0.Add(time.Hour))
		e.Fingerprint = ""
		acquire(t, st, e, t0)
		live, ok := liveRecord(t, st, e.Key, t0)
		require.True(t, ok)
		assert.Empty(t, live.Fingerprint)
		e.Done, e.Outcome = true, nil
		require.NoError(t, st.Complete(ctx, e, t0))
		live, ok = liveRecord(t, st, e.Key, t0)
		require.True(t, ok)
		assert.True(t, live.Done)
		assert.Empty(t, live.Outcome)
		assert.Empty(t, live.Fingerprint)

		ended := record("ended", t0.Add(-time.Second))
		_, ok, err := st.Acquire(ctx, ended, t0)
		require.NoError(t, err)
		require.True(t, ok, "a record whose lease ended already is still created")
		again := record("ended", t0.Add(time.Hour))
		acquire(t, st, again, t0)
		require.ErrorIs(t, st.Complete(ctx, ended, t0), idempotency.ErrLeaseLost)

		if f.tg.d == idempotency.SQLite {
			var typ string
			require.NoError(t, f.db.QueryRowContext(ctx, "SELECT typeof(record_key) || typeof(token) || typeof(fingerprint) FROM "+f.table+" LIMIT 1").Scan(&typ))
			require.Equal(t, "blobblobblob", typ, "keys are BLOBs: a TEXT never equals a BLOB in SQLite")
		}
	})
}

// TestTableQualified runs a store on a schema-qualified table where the
// dialect has schemas.
func TestTableQualified(t *testing.T) {
	t.Parallel()
	for _, tg := range targets()[:2] {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			db, err := open(tg.d, tg.dsn(t))
			require.NoError(t, err)
			defer db.Close()
			var schema string
			q := "SELECT current_schema()"
			if tg.d == idempotency.MySQL {
				q = "SELECT DATABASE()"
			}
			require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&schema))
			table := schema + ".idem_q_" + strings.ToLower(rand.Text()[:12])
			defer func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) }()
			st := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: tg.d, Table: table})
			require.NoError(t, st.Migrate(t.Context()))
			t0 := time.Now()
			acquire(t, st, record("q", t0.Add(time.Hour)), t0)
			_, ok := liveRecord(t, st, "q", t0)
			require.True(t, ok)
		})
	}
}

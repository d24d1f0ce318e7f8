package idempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
)

type charge struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

func TestDoRunsOncePerKey(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	var calls atomic.Int64
	fn := func(context.Context) (charge, error) {
		calls.Add(1)
		return charge{ID: "ch_1", Amount: 42}, nil
	}
	v, err := idempotency.Do(t.Context(), k, "charge-1", fn)
	require.NoError(t, err)
	require.Equal(t, charge{ID: "ch_1", Amount: 42}, v)
	v, err = idempotency.Do(t.Context(), k, "charge-1", fn)
	require.NoError(t, err)
	require.Equal(t, charge{ID: "ch_1", Amount: 42}, v, "the stored value")
	require.EqualValues(t, 1, calls.Load())

	// Any bytes are a key for Do, and Do's keys never meet Handler's.
	_, err = idempotency.Do(t.Context(), k, "a\x00\xff key", fn)
	require.NoError(t, err)
	require.EqualValues(t, 2, calls.Load())
}

func TestDoErrorsAreNotStored(t *testing.T) {
	t.Parallel()
	k, st := newKeys(idempotency.Config{})
	boom := errors.New("boom")
	_, err := idempotency.Do(t.Context(), k, "k", func(context.Context) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	require.Zero(t, st.Len(), "released")
	v, err := idempotency.Do(t.Context(), k, "k", func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	require.Equal(t, 7, v)

	require.Panics(t, func() {
		_, _ = idempotency.Do(t.Context(), k, "p", func(context.Context) (int, error) { panic("boom") })
	})
	require.Equal(t, 1, st.Len(), "a panic releases the key too")

	// A value that JSON cannot hold is an error, and not stored.
	_, err = idempotency.Do(t.Context(), k, "ch", func(context.Context) (chan int, error) { return make(chan int), nil })
	require.ErrorContains(t, err, "cannot store")
	require.Equal(t, 1, st.Len())
}

func TestDoInvalidKeys(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	fn := func(context.Context) (int, error) { t.Fatal("ran"); return 0, nil }
	_, err := idempotency.Do(t.Context(), k, "", fn)
	require.ErrorIs(t, err, idempotency.ErrInvalidKey)
	_, err = idempotency.Do(t.Context(), k, strings.Repeat("k", idempotency.DefaultMaxKeyBytes+1), fn)
	require.ErrorIs(t, err, idempotency.ErrInvalidKey)
}

func TestDoInProgressAndWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k, _ := newKeys(idempotency.Config{})
		hold := make(chan struct{})
		go func() {
			_, _ = idempotency.Do(context.Background(), k, "k", func(context.Context) (int, error) { <-hold; return 1, nil })
		}()
		synctest.Wait()
		_, err := idempotency.Do(t.Context(), k, "k", func(context.Context) (int, error) { return 2, nil })
		require.ErrorIs(t, err, idempotency.ErrInProgress)
		var rej interface{ HTTPStatus() int }
		require.ErrorAs(t, err, &rej)
		require.Equal(t, 409, rej.HTTPStatus())

		waiting := idempotency.New(k.Store(), idempotency.Config{MaxWait: time.Minute})
		go func() {
			time.Sleep(time.Second)
			close(hold)
		}()
		v, err := idempotency.Do(t.Context(), waiting, "k", func(context.Context) (int, error) { return 2, nil })
		require.NoError(t, err)
		require.Equal(t, 1, v, "the first execution's value")

		// A caller's context that ends stops the wait.
		hold2 := make(chan struct{})
		go func() {
			_, _ = idempotency.Do(context.Background(), k, "k2", func(context.Context) (int, error) { <-hold2; return 1, nil })
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = idempotency.Do(ctx, waiting, "k2", func(context.Context) (int, error) { return 2, nil })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		close(hold2)
		synctest.Wait()
	})
}

func TestDoTooLargeIsNotRunTwice(t *testing.T) {
	t.Parallel()
	st := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxOutcomeBytes: 64})
	k := idempotency.New(st, idempotency.Config{})
	var calls atomic.Int64
	fn := func(context.Context) (string, error) { calls.Add(1); return strings.Repeat("v", 100), nil }
	v, err := idempotency.Do(t.Context(), k, "k", fn)
	require.NoError(t, err)
	require.Len(t, v, 100, "the caller gets its value")
	_, err = idempotency.Do(t.Context(), k, "k", fn)
	require.ErrorIs(t, err, idempotency.ErrNotKept)
	require.EqualValues(t, 1, calls.Load())
}

func TestDoStoreUnavailable(t *testing.T) {
	t.Parallel()
	down := errors.New("db down")
	st := &faultyStore{Store: idempotency.NewMemoryStore(idempotency.MemoryConfig{}), acquire: down}
	k := idempotency.New(st, idempotency.Config{})
	_, err := idempotency.Do(t.Context(), k, "k", func(context.Context) (int, error) { t.Fatal("ran"); return 0, nil })
	require.ErrorIs(t, err, idempotency.ErrUnavailable)
	require.ErrorIs(t, err, down)
}

func TestMemoryStoreFull(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxKeys: 2})
		k := idempotency.New(st, idempotency.Config{TTL: time.Minute})
		fn := func(context.Context) (int, error) { return 1, nil }
		for _, key := range []string{"a", "b"} {
			_, err := idempotency.Do(t.Context(), k, key, fn)
			require.NoError(t, err)
		}
		_, err := idempotency.Do(t.Context(), k, "c", fn)
		require.ErrorIs(t, err, idempotency.ErrStoreFull, "every record is live: refused before running")
		require.ErrorIs(t, err, idempotency.ErrUnavailable)
		time.Sleep(time.Minute)
		_, err = idempotency.Do(t.Context(), k, "c", fn)
		require.NoError(t, err, "an expired record makes room")
		require.Equal(t, 2, st.Len(), "one expired record dropped, no more")
	})
}

func TestCommitTxOutsideHandler(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, idempotency.CommitTx(t.Context(), (*sql.Tx)(nil)), idempotency.ErrNoExecution)
}

package cache_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
)

// stuck is a loader that ignores its context: the loads it is told to hang
// block until the test closes release, the others answer at once.
type stuck struct {
	release chan struct{}
	calls   atomic.Int64
	hang    func(call int64) bool // whether the call-th load hangs
	value   func(call int64) int
	once    sync.Once
}

// free lets every hanging load return, once.
func (s *stuck) free() { s.once.Do(func() { close(s.release) }) }

func newStuck(hang func(int64) bool) *stuck {
	return &stuck{release: make(chan struct{}), hang: hang, value: func(n int64) int { return int(n) }}
}

func (s *stuck) load(context.Context, string) (int, error) {
	n := s.calls.Add(1)
	if s.hang(n) {
		<-s.release // the load's context is not looked at
	}
	return s.value(n), nil
}

type result struct {
	e   cache.Entry[int]
	err error
	at  time.Duration
}

// getAsync runs GetEntry on a goroutine of its own and reports the answer
// and how long it took.
func getAsync(c *cache.Cache[string, int], key string) <-chan result {
	ch := make(chan result, 1)
	start := time.Now()
	go func() {
		e, err := c.GetEntry(context.Background(), key)
		ch <- result{e, err, time.Since(start)}
	}()
	return ch
}

// answered returns the answer of ch if there is one yet.
func answered(t *testing.T, ch <-chan result) (result, bool) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		return r, true
	default:
		return result{}, false
	}
}

// TestLoadTimeoutReleasesWaitersOfAStuckLoader: a loader that ignores its
// context keeps its waiters no longer than LoadTimeout, and does not keep
// the key: the next Get starts a new load, whose value the stuck loader's
// late answer does not overwrite.
func TestLoadTimeoutReleasesWaitersOfAStuckLoader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 1 })
		c := cache.New(src.load, cache.Config{LoadTimeout: 2 * time.Second})
		defer c.Close()
		defer src.free() // before Close: the stuck loader returns at the end

		waiters := []<-chan result{getAsync(c, "k"), getAsync(c, "k"), getAsync(c, "k")}
		time.Sleep(2 * time.Second)
		for i, ch := range waiters {
			r, ok := answered(t, ch)
			require.True(t, ok, "waiter %d is still waiting at LoadTimeout", i)
			require.ErrorIs(t, r.err, context.DeadlineExceeded)
			require.ErrorIs(t, r.err, cache.ErrLoadTimeout)
			assert.EqualError(t, r.err, "cache: load timed out after 2s")
			var to interface{ Timeout() bool }
			require.ErrorAs(t, r.err, &to)
			assert.True(t, to.Timeout())
			assert.Equal(t, 2*time.Second, r.at)
		}
		m := c.Metrics()
		assert.EqualValues(t, 1, m.LoadsStuck)
		assert.EqualValues(t, 1, m.LoadsInFlight)
		assert.EqualValues(t, 1, m.LoadErrors)

		r, ok := answered(t, getAsync(c, "k"))
		require.True(t, ok, "the next Get joined the stuck load")
		require.NoError(t, r.err)
		assert.Equal(t, 2, r.e.Value, "a fresh load answered")
		assert.EqualValues(t, 2, src.calls.Load())
	})
}

// TestStuckLoaderServesStaleAtLoadTimeout: with a stale value that
// stale-if-error may serve, the waiters of a stuck load get it at
// LoadTimeout, with the timeout as the reason.
func TestStuckLoaderServesStaleAtLoadTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 2 })
		c := cache.New(src.load, cache.Config{TTL: time.Minute, StaleIfError: time.Hour, LoadTimeout: 2 * time.Second})
		defer c.Close()
		defer src.free()
		_, err := c.Get(context.Background(), "k")
		require.NoError(t, err)

		time.Sleep(2 * time.Minute)
		ch := getAsync(c, "k")
		time.Sleep(2 * time.Second)
		r, ok := answered(t, ch)
		require.True(t, ok, "the waiter is still waiting at LoadTimeout")
		require.NoError(t, r.err)
		assert.Equal(t, 1, r.e.Value)
		assert.True(t, r.e.Stale)
		assert.ErrorIs(t, r.e.Err, context.DeadlineExceeded, "the entry says it stands in for a timeout")
		assert.ErrorIs(t, r.e.Err, cache.ErrLoadTimeout)
		assert.Equal(t, 2*time.Second, r.at)
	})
}

// TestStuckLoadsPerKeyAreBounded: while two loads of a key are past their
// LoadTimeout and have not returned, a Get starts no third one and fails
// at once; once they return, their goroutines are gone and the key loads
// again.
func TestStuckLoadsPerKeyAreBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(int64) bool { return true })
		c := cache.New(src.load, cache.Config{LoadTimeout: 2 * time.Second})
		defer c.Close()
		defer src.free()

		for i := range 2 {
			ch := getAsync(c, "k")
			time.Sleep(2 * time.Second)
			r, ok := answered(t, ch)
			require.True(t, ok, "Get %d is still waiting at LoadTimeout", i)
			require.ErrorIs(t, r.err, context.DeadlineExceeded)
		}
		require.EqualValues(t, 2, src.calls.Load(), "each Get after a timeout starts a new load")

		r, ok := answered(t, getAsync(c, "k"))
		require.True(t, ok, "with two loads stuck, a Get does not wait")
		require.ErrorIs(t, r.err, context.DeadlineExceeded)
		require.ErrorIs(t, r.err, cache.ErrLoadTimeout)
		assert.EqualError(t, r.err, "cache: loads of the key are stuck past LoadTimeout 2s")
		assert.Zero(t, r.at)
		assert.EqualValues(t, 2, src.calls.Load(), "and starts no third load")
		assert.EqualValues(t, 2, c.Metrics().LoadsInFlight, "the stuck loads still run")
		assert.EqualValues(t, 2, c.Metrics().LoadsStuck)

		src.free()
		synctest.Wait()
		assert.EqualValues(t, 0, c.Metrics().LoadsInFlight, "their goroutines ended when the loader returned")
		assert.EqualValues(t, 0, c.Metrics().LoadsStuck)
		assert.EqualValues(t, 2, c.Metrics().LoadErrors, "a stuck load is one load error")
		assert.Equal(t, 0, c.Len(), "late answers are dropped")
		v, err := c.Get(context.Background(), "k")
		require.NoError(t, err)
		assert.Equal(t, 3, v)
	})
}

// TestAbandonedStuckLoadDoesNotHoldTheKey: a load whose caller left is
// waited for by the next Get, so that the source sees one load at a time,
// but no longer than its LoadTimeout.
func TestAbandonedStuckLoadDoesNotHoldTheKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 1 })
		c := cache.New(src.load, cache.Config{LoadTimeout: 2 * time.Second})
		defer c.Close()
		defer src.free()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Get(ctx, "k")
		require.ErrorIs(t, err, context.DeadlineExceeded)

		r, ok := answered(t, getAsync(c, "k"))
		require.False(t, ok, "the next Get waits for the abandoned load")
		ch := getAsync(c, "k")
		time.Sleep(1500 * time.Millisecond) // the abandoned load's LoadTimeout
		r, ok = answered(t, ch)
		require.True(t, ok, "a Get is still waiting for the abandoned load past its LoadTimeout")
		require.NoError(t, r.err)
		assert.Equal(t, 2, r.e.Value)
		assert.Equal(t, 1500*time.Millisecond, r.at)
		assert.EqualValues(t, 2, src.calls.Load())
	})
}

// TestLateAnswerOfAStuckLoadIsDropped: the value of a load that returns
// past its LoadTimeout never replaces the value of the load started after
// it.
func TestLateAnswerOfAStuckLoadIsDropped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 1 })
		c := cache.New(src.load, cache.Config{LoadTimeout: 2 * time.Second})
		defer c.Close()
		defer src.free()
		ch := getAsync(c, "k")
		time.Sleep(2 * time.Second)
		_, ok := answered(t, ch)
		require.True(t, ok, "the waiter is still waiting at LoadTimeout")
		r, ok := answered(t, getAsync(c, "k"))
		require.True(t, ok, "the next Get joined the stuck load")
		require.Equal(t, 2, r.e.Value)

		src.free() // the stuck load answers 1, late
		synctest.Wait()
		v, err := c.Get(context.Background(), "k")
		require.NoError(t, err)
		assert.Equal(t, 2, v)
		assert.EqualValues(t, 0, c.Metrics().LoadsInFlight)
	})
}

// TestCooperativeLoaderAtLoadTimeout: a loader that returns its context's
// error at LoadTimeout gives its callers an error that matches
// ErrLoadTimeout too, and is not a stuck load.
func TestCooperativeLoaderAtLoadTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := cache.New(func(ctx context.Context, _ string) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}, cache.Config{LoadTimeout: time.Second})
		defer c.Close()
		_, err := c.Get(context.Background(), "k")
		require.ErrorIs(t, err, cache.ErrLoadTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		synctest.Wait()
		m := c.Metrics()
		assert.Zero(t, m.LoadsStuck)
		assert.Zero(t, m.LoadsInFlight)
		assert.EqualValues(t, 1, m.LoadErrors)
	})
}

// TestStuckBackgroundRefreshIsReplaced: a stale-while-revalidate refresh
// that gets stuck does not keep the key from being refreshed again.
func TestStuckBackgroundRefreshIsReplaced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 2 })
		c := cache.New(src.load, cache.Config{TTL: time.Minute, StaleWhileRevalidate: time.Hour, LoadTimeout: time.Second})
		defer c.Close()
		defer src.free()
		ctx := context.Background()
		_, err := c.Get(ctx, "k")
		require.NoError(t, err)
		time.Sleep(2 * time.Minute)
		e, err := c.GetEntry(ctx, "k") // starts refresh 2, which hangs
		require.NoError(t, err)
		assert.True(t, e.Stale)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, c.Metrics().LoadsStuck)
		_, err = c.GetEntry(ctx, "k") // starts refresh 3
		require.NoError(t, err)
		synctest.Wait()
		e, err = c.GetEntry(ctx, "k")
		require.NoError(t, err)
		assert.False(t, e.Stale)
		assert.Equal(t, 3, e.Value)
	})
}

// TestHammerStuckLoads runs readers, writers and impatient callers on one
// key whose loader ignores its context and often outlives LoadTimeout (in
// real time, under -race): no more than two loads of the key ever run at
// once, and every goroutine is gone after Close.
func TestHammerStuckLoads(t *testing.T) {
	t.Parallel()
	var running, maxRunning, calls atomic.Int64
	var events countingObserver
	c := cache.New(func(context.Context, string) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond) // ignores its context
		return 1, nil
	}, cache.Config{TTL: 100 * time.Microsecond, StaleIfError: time.Millisecond, StaleIfSlow: 50 * time.Microsecond,
		LoadTimeout: 200 * time.Microsecond, Observer: &events})

	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 300 {
				switch {
				case w == 0 && i%50 == 0:
					c.Delete("hot")
				case w == 1 && i%70 == 0:
					c.Set("hot", 1)
				case w%4 == 3:
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Microsecond)
					_, _ = c.Get(ctx, "hot")
					cancel()
				default:
					v, err := c.Get(context.Background(), "hot")
					if err == nil {
						assert.Equal(t, 1, v)
					} else {
						assert.ErrorIs(t, err, cache.ErrLoadTimeout)
					}
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	assert.LessOrEqual(t, maxRunning.Load(), int64(2), "at most two loads of the key at a time")
	assert.Positive(t, calls.Load())
	m := c.Metrics()
	assert.Zero(t, m.LoadsInFlight)
	assert.Zero(t, m.LoadsStuck)
	// Every Get reported how it was answered, and every load its end,
	// given up on or not.
	assert.Equal(t, m.Hits, events.n[resilience.EventCacheHit].Load(), "hits")
	assert.Equal(t, m.Misses, events.n[resilience.EventCacheMiss].Load(), "misses")
	assert.Equal(t, m.StaleServed, events.n[resilience.EventCacheStale].Load(), "stale")
	assert.Equal(t, m.Loads, events.n[resilience.EventCacheLoad].Load(), "loads")
	assert.Equal(t, m.LoadErrors, events.loadErrors.Load(), "load errors")
	assert.Equal(t, uint64(16*300-6-5), m.Hits+m.Misses+m.StaleServed, "one per Get")
}

// countingObserver counts the events of each kind, and the loads that
// failed.
type countingObserver struct {
	n          [32]atomic.Uint64
	loadErrors atomic.Uint64
}

func (o *countingObserver) Observe(_ context.Context, e resilience.Event) {
	o.n[e.Kind].Add(1)
	if e.Kind == resilience.EventCacheLoad && e.Err != nil {
		o.loadErrors.Add(1)
	}
}

// TestLongLoadTimeout: a LoadTimeout as long as resilience.Forever is a
// bound too far to reach, not one that has passed.
func TestLongLoadTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 1 })
		c := cache.New(src.load, cache.Config{LoadTimeout: resilience.Forever})
		defer c.Close()
		defer src.free()
		ch := getAsync(c, "k")
		time.Sleep(24 * time.Hour)
		_, ok := answered(t, ch)
		require.False(t, ok, "the load was given up on")
		ch2 := getAsync(c, "k")
		_, ok = answered(t, ch2)
		require.False(t, ok)
		assert.EqualValues(t, 1, src.calls.Load(), "a second Get joins the load")
		assert.Zero(t, c.Metrics().LoadsStuck)
		src.free()
		for _, ch := range []<-chan result{ch, ch2} {
			r, ok := answered(t, ch)
			require.True(t, ok)
			require.NoError(t, r.err)
			assert.Equal(t, 1, r.e.Value)
		}
	})
}

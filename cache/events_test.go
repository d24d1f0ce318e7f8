package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// names returns events as "kind" or "kind:reason", sorted (a background
// load and the Get that started it report in either order).
func names(events []resilience.Event) []string {
	var out []string
	for _, e := range events {
		s := e.Kind.String()
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func only(t *testing.T, events []resilience.Event, kind resilience.EventKind) resilience.Event {
	t.Helper()
	var found []resilience.Event
	for _, e := range events {
		if e.Kind == kind {
			found = append(found, e)
		}
	}
	require.Len(t, found, 1, "one %v in %v", kind, events)
	return found[0]
}

// TestEventsAreTheMetrics: every Get reports one hit, stale answer or
// miss, as Metrics counts it, with Policy "cache" and the cache's Name;
// every load reports its end. The Observer may call the cache: no lock is
// held.
func TestEventsAreTheMetrics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", 1, "b", 2)
		rec := &observetest.Log{}
		c := cache.New(src.load, cache.Config{Name: "users", TTL: time.Minute, StaleWhileRevalidate: time.Minute,
			StaleIfError: time.Hour, Observer: rec})
		defer c.Close()
		rec.On = func(context.Context, resilience.Event) { _ = c.Metrics() } // takes every shard's lock
		ctx := context.Background()
		var all []resilience.Event
		get := func(k string, want ...string) {
			t.Helper()
			_, _ = c.Get(ctx, k)
			synctest.Wait()
			events := rec.TakeEvents()
			all = append(all, events...)
			assert.Equal(t, want, names(events), "Get(%q)", k)
		}
		get("a", "cache_load", "cache_miss")
		get("a", "cache_hit")
		get("b", "cache_load", "cache_miss")
		time.Sleep(90 * time.Second)
		get("a", "cache_load", "cache_stale:refresh") // stale while revalidate, the refresh behind it
		get("a", "cache_hit")
		src.fail("b", errDown)
		time.Sleep(time.Minute)
		get("b", "cache_load", "cache_stale:load_failed") // stale if error

		m := c.Metrics()
		count := map[resilience.EventKind]uint64{}
		for _, e := range all {
			assert.Equal(t, "cache", e.Policy)
			assert.Equal(t, "users", e.Name)
			assert.Empty(t, e.Key)
			count[e.Kind]++
		}
		assert.Equal(t, m.Hits, count[resilience.EventCacheHit])
		assert.Equal(t, m.Misses, count[resilience.EventCacheMiss])
		assert.Equal(t, m.StaleServed, count[resilience.EventCacheStale])
		assert.Equal(t, m.Loads, count[resilience.EventCacheLoad])
		var loadErrors uint64
		for _, e := range all {
			if e.Kind == resilience.EventCacheLoad && e.Err != nil {
				loadErrors++
				assert.ErrorIs(t, e.Err, errDown)
			}
			if e.Kind == resilience.EventCacheStale && e.Reason == cache.ReasonLoadFailed {
				assert.ErrorIs(t, e.Err, errDown, "the failure the stale value stands in for")
			}
		}
		assert.Equal(t, m.LoadErrors, loadErrors)
	})
}

// TestStaleEventReasons: each way of serving a stale value has its
// reason, and only a failed load gives an Err.
func TestStaleEventReasons(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		cfg    cache.Config
		down   bool // the source fails (else it hangs until LoadTimeout)
		reason string
	}{
		{"stale while revalidate", cache.Config{StaleWhileRevalidate: time.Hour}, true, cache.ReasonRefresh},
		{"stale if error, StaleIfSlow None", cache.Config{StaleIfError: time.Hour, StaleIfSlow: resilience.None}, true, cache.ReasonRefresh},
		{"stale if slow", cache.Config{StaleIfError: time.Hour, StaleIfSlow: 100 * time.Millisecond}, false, cache.ReasonSlow},
		{"stale if error", cache.Config{StaleIfError: time.Hour}, true, cache.ReasonLoadFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var calls int
				load := func(ctx context.Context, _ string) (int, error) {
					if calls++; calls == 1 {
						return 1, nil
					}
					if tt.down {
						return 0, errDown
					}
					<-ctx.Done() // hangs until LoadTimeout
					return 0, ctx.Err()
				}
				rec := &observetest.Log{}
				cfg := tt.cfg
				cfg.TTL, cfg.LoadTimeout, cfg.Observer = time.Minute, 2*time.Second, rec
				c := cache.New(load, cfg)
				defer c.Close()
				ctx := context.Background()
				_, err := c.Get(ctx, "k")
				require.NoError(t, err)
				rec.TakeEvents()
				time.Sleep(2 * time.Minute)

				e, err := c.GetEntry(ctx, "k")
				require.NoError(t, err)
				require.True(t, e.Stale)
				stale := only(t, rec.TakeEvents(), resilience.EventCacheStale)
				assert.Equal(t, tt.reason, stale.Reason)
				if tt.reason == cache.ReasonLoadFailed {
					assert.ErrorIs(t, stale.Err, errDown)
				} else {
					assert.NoError(t, stale.Err)
				}
				assert.Equal(t, e.Err, stale.Err, "the event's Err is the Entry's")
				assert.Equal(t, "cache_stale", stale.Kind.String())
				assert.Equal(t, e.Age, c.StaleAge(), "the age of the answer")
				synctest.Wait() // the load behind it ends
			})
		})
	}
}

// TestLoadEvents: a load reports how long it took and how it failed, on
// the load's goroutine, with the load's context (the values of the Get
// that started it); a not-found answer is no failure.
func TestLoadEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		missing := fmt.Errorf("no such user: %w", cache.ErrNotFound)
		load := func(ctx context.Context, k string) (int, error) {
			time.Sleep(300 * time.Millisecond)
			switch k {
			case "down":
				return 0, errDown
			case "gone":
				return 0, missing
			case "panic":
				panic("boom")
			}
			return 7, nil
		}
		rec := &observetest.Log{}
		c := cache.New(load, cache.Config{Name: "n", NegativeTTL: time.Minute, Observer: rec,
			OnPanic: func(context.Context, *cache.PanicError) {}})
		defer c.Close()
		ctx := context.WithValue(context.Background(), traceKey{}, "trace-1")

		_, err := c.Get(ctx, "ok")
		require.NoError(t, err)
		evs, ctxs := rec.Take()
		require.Len(t, evs, 2)
		ld, miss := evs[0], evs[1]
		loadCtx, getCtx := ctxs[0], ctxs[1]
		assert.Equal(t, resilience.EventCacheLoad, ld.Kind, "the load ends before its waiters wake")
		assert.Equal(t, 300*time.Millisecond, ld.Duration)
		assert.NoError(t, ld.Err)
		assert.Empty(t, ld.Reason)
		assert.Equal(t, resilience.EventCacheMiss, miss.Kind)
		assert.Zero(t, miss.Duration)
		assert.Equal(t, ctx, getCtx, "a Get's events get its context")
		assert.NotEqual(t, ctx, loadCtx, "a load's events get the load's context")
		assert.Equal(t, "trace-1", loadCtx.Value(traceKey{}), "which keeps the Get's values")

		_, err = c.Get(ctx, "down")
		require.ErrorIs(t, err, errDown)
		ld = only(t, rec.TakeEvents(), resilience.EventCacheLoad)
		assert.ErrorIs(t, ld.Err, errDown)
		assert.Equal(t, 300*time.Millisecond, ld.Duration)

		_, err = c.Get(ctx, "gone")
		require.ErrorIs(t, err, cache.ErrNotFound)
		events := rec.TakeEvents()
		ld = only(t, events, resilience.EventCacheLoad)
		assert.NoError(t, ld.Err, "not found is an answer")
		assert.Equal(t, cache.ReasonNotFound, ld.Reason)
		only(t, events, resilience.EventCacheMiss)
		_, err = c.Get(ctx, "gone")
		require.ErrorIs(t, err, cache.ErrNotFound)
		assert.Equal(t, []string{"cache_hit"}, names(rec.TakeEvents()), "a remembered not-found is a hit")

		_, err = c.Get(ctx, "panic")
		var pe *cache.PanicError
		require.ErrorAs(t, err, &pe)
		ld = only(t, rec.TakeEvents(), resilience.EventCacheLoad)
		require.ErrorAs(t, ld.Err, &pe)
		assert.Equal(t, "boom", pe.Value)
	})
}

// TestLoadGivenUpReportsOnce: a load the cache gives up on at LoadTimeout
// ends there for the cache: one EventCacheLoad, from the Get that gave up
// (with no lock held), with the timeout; its loader returning later
// reports nothing.
func TestLoadGivenUpReportsOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newStuck(func(n int64) bool { return n == 1 })
		rec := &observetest.Log{}
		c := cache.New(src.load, cache.Config{LoadTimeout: 2 * time.Second, Observer: rec})
		defer c.Close()
		defer src.free()
		rec.On = func(context.Context, resilience.Event) { _ = c.Metrics() }

		waiters := []<-chan result{getAsync(c, "k"), getAsync(c, "k"), getAsync(c, "k")}
		time.Sleep(2 * time.Second)
		for _, ch := range waiters {
			r, ok := answered(t, ch)
			require.True(t, ok)
			require.ErrorIs(t, r.err, cache.ErrLoadTimeout)
		}
		events := rec.TakeEvents()
		ld := only(t, events, resilience.EventCacheLoad)
		assert.ErrorIs(t, ld.Err, cache.ErrLoadTimeout)
		assert.ErrorIs(t, ld.Err, context.DeadlineExceeded)
		assert.Equal(t, 2*time.Second, ld.Duration)
		assert.Len(t, events, 4, "the load, and a miss per waiter")

		src.free() // the stuck loader returns: its answer is dropped, and not reported
		synctest.Wait()
		assert.Empty(t, rec.TakeEvents())
		assert.Equal(t, c.Metrics().LoadErrors, uint64(1))
	})
}

func TestTypedNilObserverPanics(t *testing.T) {
	t.Parallel()
	var rec *observetest.Log
	assert.PanicsWithValue(t, "cache: Observer is a nil *observetest.Log", func() {
		cache.New(noLoad, cache.Config{Observer: rec})
	})
	var f resilience.ObserverFunc
	assert.Panics(t, func() { cache.New(noLoad, cache.Config{Observer: f}) })
}

// TestStaleAge: StaleAge is the age of the oldest value served stale in
// the last minute or two: it grows with an outage, holds the age of a
// value from an old snapshot served while the source is down, and returns
// to zero once nothing is served stale.
func TestStaleAge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", 1, "b", 2)
		cfg := cache.Config{TTL: time.Minute, StaleIfError: 24 * time.Hour}
		c := cache.New(src.load, cfg)
		defer c.Close()
		ctx := context.Background()
		assert.Zero(t, c.StaleAge(), "nothing served stale")
		_, _ = c.Get(ctx, "a")
		time.Sleep(30 * time.Second)
		_, _ = c.Get(ctx, "b")
		_, _ = c.Get(ctx, "a")
		assert.Zero(t, c.StaleAge(), "fresh answers do not count")

		src.fail("a", errDown)
		src.fail("b", errDown)
		time.Sleep(50 * time.Second) // a is 80 s old, b 50 s: b is fresh
		_, _ = c.Get(ctx, "a")
		_, _ = c.Get(ctx, "b")
		assert.Equal(t, 80*time.Second, c.StaleAge())
		for range 10 { // ten minutes of outage
			time.Sleep(time.Minute)
			_, _ = c.Get(ctx, "b")
		}
		assert.Equal(t, 10*time.Minute+50*time.Second, c.StaleAge(), "b, served last")

		// Snapshot and restart: the new process comes up while the
		// source is down, an hour later.
		var snap bytes.Buffer
		_, err := c.Save(&snap)
		require.NoError(t, err)
		time.Sleep(time.Hour)
		c2 := cache.New(src.load, cfg)
		defer c2.Close()
		_, err = c2.Load(&snap)
		require.NoError(t, err)
		assert.Zero(t, c2.StaleAge(), "loaded, not served")
		e, err := c2.GetEntry(ctx, "a")
		require.NoError(t, err)
		require.True(t, e.Stale)
		old := time.Hour + 11*time.Minute + 20*time.Second
		assert.Equal(t, old, e.Age)
		assert.Equal(t, old, c2.StaleAge())

		// The source comes back: the next Gets are fresh, and StaleAge
		// forgets the stale answers within two minutes.
		src.set("a", 10)
		_, _ = c2.Get(ctx, "a")
		assert.Equal(t, old, c2.StaleAge(), "the stale answer of this minute still counts")
		time.Sleep(cache.StaleWindow)
		_, _ = c2.Get(ctx, "a")
		assert.Equal(t, old, c2.StaleAge(), "and in the next one")
		time.Sleep(cache.StaleWindow)
		_, _ = c2.Get(ctx, "a")
		assert.Zero(t, c2.StaleAge())
	})
}

// TestStaleAgeKeepsTheOldest: within a period the greatest age counts,
// whatever the order of the answers, and a value aging by less than a
// second over what was noted is not noted again.
func TestStaleAgeKeepsTheOldest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("old", 1, "young", 2)
		c := cache.New(src.load, cache.Config{TTL: time.Second, StaleIfError: time.Hour})
		defer c.Close()
		ctx := context.Background()
		_, _ = c.Get(ctx, "old")
		time.Sleep(20 * time.Second)
		_, _ = c.Get(ctx, "young")
		src.fail("old", errDown)
		src.fail("young", errDown)
		time.Sleep(5 * time.Second)
		_, _ = c.Get(ctx, "young") // 5 s old
		assert.Equal(t, 5*time.Second, c.StaleAge())
		_, _ = c.Get(ctx, "old") // 25 s old
		assert.Equal(t, 25*time.Second, c.StaleAge())
		_, _ = c.Get(ctx, "young")
		assert.Equal(t, 25*time.Second, c.StaleAge(), "the oldest counts")
		time.Sleep(500 * time.Millisecond)
		_, _ = c.Get(ctx, "old")
		assert.Equal(t, 25*time.Second, c.StaleAge(), "half a second more is not noted")
		time.Sleep(600 * time.Millisecond)
		_, _ = c.Get(ctx, "old")
		assert.Equal(t, 26100*time.Millisecond, c.StaleAge())
	})
}

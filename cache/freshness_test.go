package cache_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/cache"
)

// TestFreshnessWindows reads a value at points of its life, with the source
// either up (answering a new value) or down, and checks what the cache
// answers and whether the read had to wait for the source.
func TestFreshnessWindows(t *testing.T) {
	t.Parallel()
	cfg := cache.Config{
		TTL:                  10 * time.Second,
		RefreshAhead:         2 * time.Second,
		StaleWhileRevalidate: 5 * time.Second,  // to 15 s
		StaleIfError:         20 * time.Second, // to 30 s
	}
	tests := []struct {
		at        time.Duration
		down      bool
		want      int  // value answered (0 with wantErr)
		wantStale bool // Entry.Stale
		wantErr   bool // the Get fails
		wantLoads int64
	}{
		{at: 0, want: 1, wantLoads: 0},
		{at: 7 * time.Second, want: 1, wantLoads: 0},                   // fresh
		{at: 9 * time.Second, want: 1, wantLoads: 1},                   // refresh ahead: old value now, reload behind
		{at: 9 * time.Second, down: true, want: 1, wantLoads: 1},       // the failed refresh changes nothing
		{at: 12 * time.Second, want: 1, wantStale: true, wantLoads: 1}, // stale while revalidate
		{at: 12 * time.Second, down: true, want: 1, wantStale: true, wantLoads: 1},
		{at: 20 * time.Second, want: 2, wantLoads: 1},                              // past SWR: waits for the load
		{at: 20 * time.Second, down: true, want: 1, wantStale: true, wantLoads: 1}, // stale if error
		{at: 31 * time.Second, want: 2, wantLoads: 1},
		{at: 31 * time.Second, down: true, wantErr: true, wantLoads: 1}, // every window passed
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v down=%v", tt.at, tt.down), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				src := newSource("k", 1)
				c := cache.New(src.load, cfg)
				defer c.Close()
				ctx := context.Background()
				_, err := c.Get(ctx, "k")
				require.NoError(t, err)
				src.loads.Store(0)
				src.set("k", 2)
				if tt.down {
					src.fail("k", errDown)
				}

				time.Sleep(tt.at)
				e, err := c.GetEntry(ctx, "k")
				synctest.Wait() // let a background reload finish
				assert.Equal(t, tt.wantLoads, src.loads.Load(), "loads")
				if tt.wantErr {
					require.ErrorIs(t, err, errDown)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want, e.Value)
				assert.Equal(t, tt.wantStale, e.Stale)
				if tt.wantStale && tt.down && tt.at > 15*time.Second {
					assert.ErrorIs(t, e.Err, errDown, "a stale-if-error answer says why")
				} else {
					assert.NoError(t, e.Err)
				}
				if tt.want == 1 {
					assert.Equal(t, tt.at, e.Age)
				}
			})
		})
	}
}

func TestStaleWhileRevalidateRefreshesOnceInBackground(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var version int
		loads := 0
		c := cache.New(func(ctx context.Context, k string) (int, error) {
			loads++
			if loads > 1 {
				<-release
			}
			version++
			return version, nil
		}, cache.Config{TTL: time.Minute, StaleWhileRevalidate: time.Minute})
		defer c.Close()
		ctx := context.Background()
		_, err := c.Get(ctx, "k")
		require.NoError(t, err)

		time.Sleep(90 * time.Second)
		for range 10 {
			e, err := c.GetEntry(ctx, "k")
			require.NoError(t, err)
			assert.True(t, e.Stale)
			assert.Equal(t, 1, e.Value, "stale value served at once, not after the reload")
		}
		synctest.Wait()
		assert.Equal(t, 2, loads, "one background reload for ten stale reads")
		assert.EqualValues(t, 1, c.Metrics().LoadsInFlight)
		close(release)
		synctest.Wait()

		e, err := c.GetEntry(ctx, "k")
		require.NoError(t, err)
		assert.False(t, e.Stale)
		assert.Equal(t, 2, e.Value)
		assert.Zero(t, e.Age)
		assert.EqualValues(t, 10, c.Metrics().StaleServed)
	})
}

// TestStaleIfErrorWithOpenBreaker runs the loader under a real circuit
// breaker: the source fails, the breaker opens, and the cache answers with
// the stale value, naming the breaker's rejection as the reason, while the
// breaker keeps every load away from the source.
func TestStaleIfErrorWithOpenBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", 1, "other", 2)
		br := breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenDuration: 10 * time.Minute})
		c := cache.New(func(ctx context.Context, k string) (int, error) {
			return resilience.Do(ctx, br, func(ctx context.Context) (int, error) { return src.load(ctx, k) })
		}, cache.Config{TTL: time.Minute, StaleIfError: 10 * time.Minute})
		defer c.Close()
		ctx := context.Background()
		_, err := c.Get(ctx, "k")
		require.NoError(t, err)

		src.fail("k", errDown)
		src.fail("other", errDown)
		time.Sleep(2 * time.Minute)
		for range 2 { // two failed loads trip the breaker
			e, err := c.GetEntry(ctx, "k")
			require.NoError(t, err)
			assert.ErrorIs(t, e.Err, errDown)
		}
		require.Equal(t, breaker.Open, br.State())
		loads := src.loads.Load()

		time.Sleep(3 * time.Minute)
		e, err := c.GetEntry(ctx, "k")
		require.NoError(t, err, "the breaker's rejection is hidden behind the stale value")
		assert.Equal(t, 1, e.Value)
		assert.True(t, e.Stale)
		assert.Equal(t, 5*time.Minute, e.Age)
		require.ErrorIs(t, e.Err, breaker.ErrOpen, "the entry says which error it stands in for")
		_, err = c.Get(ctx, "other")
		require.ErrorIs(t, err, breaker.ErrOpen, "no stale value: the rejection is returned")

		time.Sleep(6 * time.Minute) // past StaleIfError, the breaker still open
		_, err = c.Get(ctx, "k")
		require.ErrorIs(t, err, breaker.ErrOpen, "past StaleIfError the rejection is returned")
		assert.Equal(t, loads, src.loads.Load(), "the open breaker kept every load from the source")
		assert.EqualValues(t, 5, c.Metrics().LoadErrors)
	})
}

func TestNegativeCaching(t *testing.T) {
	t.Parallel()
	notFound := fmt.Errorf("user 7: %w", cache.ErrNotFound)
	t.Run("remembered for NegativeTTL", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			src := newSource()
			src.fail("k", notFound)
			c := cache.New(src.load, cache.Config{NegativeTTL: 10 * time.Second})
			defer c.Close()
			ctx := context.Background()
			for range 3 {
				_, err := c.Get(ctx, "k")
				require.ErrorIs(t, err, cache.ErrNotFound)
				assert.Equal(t, notFound, err, "the loader's own error comes back")
			}
			assert.EqualValues(t, 1, src.loads.Load())
			src.set("k", 5)
			time.Sleep(10 * time.Second)
			v, err := c.Get(ctx, "k")
			require.NoError(t, err)
			assert.Equal(t, 5, v)
			assert.EqualValues(t, 2, src.loads.Load())
			assert.Zero(t, c.Metrics().LoadErrors, "not found is no load error")
		})
	})
	t.Run("not cached without NegativeTTL", func(t *testing.T) {
		t.Parallel()
		src := newSource()
		src.fail("k", notFound)
		c := cache.New(src.load, cache.Config{})
		defer c.Close()
		for range 3 {
			_, err := c.Get(context.Background(), "k")
			require.ErrorIs(t, err, cache.ErrNotFound)
		}
		assert.EqualValues(t, 3, src.loads.Load())
	})
	t.Run("not found drops the stale value", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			src := newSource("k", 1)
			c := cache.New(src.load, cache.Config{TTL: time.Minute, StaleIfError: time.Hour})
			defer c.Close()
			ctx := context.Background()
			_, err := c.Get(ctx, "k")
			require.NoError(t, err)
			src.fail("k", cache.ErrNotFound)
			time.Sleep(2 * time.Minute)
			_, err = c.Get(ctx, "k")
			require.ErrorIs(t, err, cache.ErrNotFound, "not found is an answer, not a failure to serve stale over")
			assert.Equal(t, 0, c.Len())
		})
	})
}

func TestRefreshAheadKeepsHotKeyFresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", 1)
		c := cache.New(src.load, cache.Config{TTL: 10 * time.Second, RefreshAhead: 3 * time.Second})
		defer c.Close()
		ctx := context.Background()
		// A read every second for a minute: after the first, no read waits
		// and none is stale.
		for i := range 60 {
			e, err := c.GetEntry(ctx, "k")
			require.NoError(t, err)
			assert.False(t, e.Stale)
			assert.Less(t, e.Age, 10*time.Second)
			synctest.Wait()
			if i == 0 {
				src.set("k", 2)
			}
			time.Sleep(time.Second)
		}
		m := c.Metrics()
		assert.EqualValues(t, 1, m.Misses)
		assert.EqualValues(t, 59, m.Hits)
		// Loaded at 0, reloaded whenever a read finds under 3 s left: at 7 s,
		// 14 s, ... 56 s.
		assert.EqualValues(t, 9, src.loads.Load())
	})
}

func TestJitterSpreadsExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		c := cache.New(src.load, cache.Config{TTL: 100 * time.Second, Jitter: 0.5})
		defer c.Close()
		ctx := context.Background()
		const n = 200
		for i := range n {
			_, err := c.Get(ctx, strconv.Itoa(i))
			require.NoError(t, err)
		}
		time.Sleep(75 * time.Second) // TTLs are uniform in (50 s, 100 s]
		for i := range n {
			_, err := c.Get(ctx, strconv.Itoa(i))
			require.NoError(t, err)
		}
		reloaded := src.loads.Load() - n
		assert.Greater(t, reloaded, int64(n/5), "some keys expired")
		assert.Less(t, reloaded, int64(4*n/5), "not all keys expired together")
	})
}

func TestJitterKeepsRefreshAheadInsideTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		c := cache.New(src.load, cache.Config{TTL: 10 * time.Second, RefreshAhead: 5 * time.Second, Jitter: 0.9})
		defer c.Close()
		ctx := context.Background()
		const n = 100
		for i := range n {
			_, err := c.Get(ctx, strconv.Itoa(i))
			require.NoError(t, err)
		}
		// Even a TTL cut to 1 s leaves its window after the load: reads at
		// once start no refresh.
		for i := range n {
			_, err := c.Get(ctx, strconv.Itoa(i))
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.EqualValues(t, n, src.loads.Load())
	})
}

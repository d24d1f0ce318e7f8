package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
)

// hangingSource answers 1 at first; then, while down, its loads hang until
// their context ends (LoadTimeout), and otherwise take slow to answer 2.
type hangingSource struct {
	calls atomic.Int64
	down  atomic.Bool
	slow  time.Duration
}

func (s *hangingSource) load(ctx context.Context, _ string) (int, error) {
	if s.calls.Add(1) == 1 {
		return 1, nil
	}
	if s.down.Load() {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	select {
	case <-time.After(s.slow):
		return 2, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// TestStaleIfSlowDuringAHang: with stale-if-error alone, every read of a
// stale key pays the whole hanging load (LoadTimeout, 2 s). With
// StaleIfSlow each read gets the stale value after StaleIfSlow, and the
// reads share one load.
func TestStaleIfSlowDuringAHang(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		slow      time.Duration // Config.StaleIfSlow
		wantWait  time.Duration
		wantLoads int // of the ten reads
	}{
		{"default: the whole LoadTimeout", 0, 2 * time.Second, 10},
		{"100ms", 100 * time.Millisecond, 100 * time.Millisecond, 1},
		{"None: at once", resilience.None, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				src := &hangingSource{}
				c := cache.New(src.load, cache.Config{
					TTL: time.Minute, StaleIfError: time.Hour, LoadTimeout: 2 * time.Second,
					StaleIfSlow: tt.slow,
				})
				defer c.Close()
				ctx := context.Background()
				_, err := c.Get(ctx, "k")
				require.NoError(t, err)
				src.down.Store(true)

				time.Sleep(2 * time.Minute)
				for i := range 10 {
					start := time.Now()
					e, err := c.GetEntry(ctx, "k")
					require.NoError(t, err)
					assert.Equal(t, 1, e.Value, "read %d", i)
					assert.True(t, e.Stale)
					assert.Equal(t, tt.wantWait, time.Since(start), "read %d", i)
				}
				synctest.Wait()
				assert.EqualValues(t, 1+tt.wantLoads, src.calls.Load(), "loads")
			})
		})
	}
}

// TestStaleIfSlowLoadFillsTheCache: a read that got the stale value at
// StaleIfSlow leaves the load running, and its value is stored when it
// comes.
func TestStaleIfSlowLoadFillsTheCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &hangingSource{slow: time.Second}
		c := cache.New(src.load, cache.Config{
			TTL: time.Minute, StaleIfError: time.Hour, StaleIfSlow: 100 * time.Millisecond,
		})
		defer c.Close()
		ctx := context.Background()
		_, err := c.Get(ctx, "k")
		require.NoError(t, err)

		time.Sleep(2 * time.Minute)
		start := time.Now()
		e, err := c.GetEntry(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
		assert.True(t, e.Stale)
		assert.Equal(t, 1, e.Value)
		assert.NoError(t, e.Err, "no load failed")

		time.Sleep(time.Second)
		synctest.Wait()
		e, err = c.GetEntry(ctx, "k")
		require.NoError(t, err)
		assert.False(t, e.Stale)
		assert.Equal(t, 2, e.Value, "the load went on and stored its value")
		assert.EqualValues(t, 2, src.calls.Load())
		m := c.Metrics()
		assert.EqualValues(t, 1, m.StaleServed)
		assert.Zero(t, m.LoadErrors)
	})
}

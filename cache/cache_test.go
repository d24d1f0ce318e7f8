package cache_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
)

func noLoad(context.Context, string) (int, error) { return 0, errors.New("no load expected") }

func TestNewPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  cache.Config
		want string
	}{
		{"negative MaxEntries", cache.Config{MaxEntries: -1}, "cache: negative Config.MaxEntries -1"},
		{"negative TTL", cache.Config{TTL: -time.Second}, "cache: negative Config.TTL -1s"},
		{"negative SWR", cache.Config{StaleWhileRevalidate: -1}, "cache: negative Config.StaleWhileRevalidate -1ns"},
		{"negative SIE", cache.Config{StaleIfError: -1}, "cache: negative Config.StaleIfError -1ns"},
		{"negative NegativeTTL", cache.Config{NegativeTTL: -1}, "cache: negative Config.NegativeTTL -1ns"},
		{"negative LoadTimeout", cache.Config{LoadTimeout: -time.Second}, "cache: negative Config.LoadTimeout -1s"},
		{"negative RefreshAhead", cache.Config{RefreshAhead: -1}, "cache: negative Config.RefreshAhead -1ns"},
		{"negative StaleIfSlow", cache.Config{StaleIfSlow: -2}, "cache: negative Config.StaleIfSlow -2ns"},
		{"None LoadTimeout", cache.Config{LoadTimeout: resilience.None},
			"cache: Config.LoadTimeout cannot be None: every load needs a bound (zero means DefaultLoadTimeout)"},
		{"jitter 1", cache.Config{Jitter: 1}, "cache: Config.Jitter 1 is not in [0, 1)"},
		{"negative jitter", cache.Config{Jitter: -0.1}, "cache: Config.Jitter -0.1 is not in [0, 1)"},
		{"refresh ahead = TTL", cache.Config{TTL: time.Second, RefreshAhead: time.Second},
			"cache: Config.RefreshAhead 1s is not less than the TTL 1s"},
		{"refresh ahead > default TTL", cache.Config{RefreshAhead: time.Hour},
			"cache: Config.RefreshAhead 1h0m0s is not less than the TTL 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, func() { cache.New(noLoad, tt.cfg) })
		})
	}
	t.Run("nil loader", func(t *testing.T) {
		t.Parallel()
		require.PanicsWithValue(t, "cache: nil loader", func() { cache.New[string, int](nil, cache.Config{}) })
	})
}

func TestGetLoadsOnceThenHits(t *testing.T) {
	t.Parallel()
	src := newSource("a", 1)
	c := cache.New(src.load, cache.Config{})
	defer c.Close()
	ctx := context.Background()
	for range 3 {
		v, err := c.Get(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, 1, v)
	}
	assert.EqualValues(t, 1, src.loads.Load())
	m := c.Metrics()
	assert.EqualValues(t, 2, m.Hits)
	assert.EqualValues(t, 1, m.Misses)
	assert.EqualValues(t, 1, m.Loads)
	assert.EqualValues(t, 0, m.LoadsInFlight)
}

func TestSetDeletePurge(t *testing.T) {
	t.Parallel()
	src := newSource("a", 1, "b", 2)
	c := cache.New(src.load, cache.Config{})
	defer c.Close()
	ctx := context.Background()

	c.Set("a", 10)
	v, err := c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, 10, v, "Set value is served without a load")
	assert.EqualValues(t, 0, src.loads.Load())

	c.Delete("a")
	v, err = c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, 1, v, "after Delete the source is asked again")

	_, err = c.Get(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, 2, c.Len())
	c.Purge()
	assert.Equal(t, 0, c.Len())
	v, err = c.Get(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	assert.EqualValues(t, 3, src.loads.Load())
}

func TestLoaderErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	src := newSource("a", 1)
	src.fail("a", errDown)
	c := cache.New(src.load, cache.Config{StaleIfError: time.Hour})
	defer c.Close()
	ctx := context.Background()
	for range 2 {
		_, err := c.Get(ctx, "a")
		require.ErrorIs(t, err, errDown)
	}
	src.set("a", 1)
	v, err := c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.EqualValues(t, 3, src.loads.Load(), "every failed Get reached the source")
	m := c.Metrics()
	assert.EqualValues(t, 2, m.LoadErrors)
	assert.EqualValues(t, 3, m.Misses)
}

func TestBoundedUnderKeyFlood(t *testing.T) {
	t.Parallel()
	c := cache.New(func(_ context.Context, k string) (int, error) { return len(k), nil },
		cache.Config{MaxEntries: 100})
	defer c.Close()
	ctx := context.Background()
	for i := range 10_000 {
		_, err := c.Get(ctx, "key-"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	n := c.Len()
	assert.LessOrEqual(t, n, 100)
	assert.Positive(t, n)
	assert.GreaterOrEqual(t, c.Metrics().Evictions, uint64(10_000-100))
}

func TestCloseStopsLoadingButKeepsServing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		c := cache.New(func(ctx context.Context, k string) (int, error) {
			if k == "slow" {
				close(started)
				<-ctx.Done()
				return 0, ctx.Err()
			}
			return 1, nil
		}, cache.Config{TTL: time.Minute, StaleIfError: time.Hour})
		ctx := context.Background()
		_, err := c.Get(ctx, "a")
		require.NoError(t, err)

		errc := make(chan error)
		go func() {
			_, err := c.Get(ctx, "slow")
			errc <- err
		}()
		<-started
		c.Close()
		err = <-errc
		require.ErrorIs(t, err, context.Canceled, "Close cancels the load in flight")
		require.ErrorIs(t, err, cache.ErrClosed, "and says why")
		assert.EqualValues(t, 0, c.Metrics().LoadsInFlight)

		v, err := c.Get(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, 1, v, "a closed cache still serves what it holds")
		_, err = c.Get(ctx, "b")
		require.ErrorIs(t, err, cache.ErrClosed)

		time.Sleep(2 * time.Minute)
		e, err := c.GetEntry(ctx, "a")
		require.NoError(t, err)
		assert.True(t, e.Stale)
		assert.ErrorIs(t, e.Err, cache.ErrClosed, "stale-if-error covers a closed cache")
		c.Close() // twice is fine
	})
}

func TestMetricsCountEveryGetOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", 1, "b", 2)
		c := cache.New(src.load, cache.Config{TTL: time.Minute, StaleWhileRevalidate: time.Minute,
			StaleIfError: time.Hour})
		defer c.Close()
		ctx := context.Background()
		get := func(k string) {
			_, _ = c.Get(ctx, k)
			synctest.Wait()
		}
		get("a") // miss
		get("a") // hit
		get("b") // miss
		time.Sleep(90 * time.Second)
		get("a") // stale (SWR), refresh
		get("a") // hit
		src.fail("b", errDown)
		time.Sleep(time.Minute)
		get("b") // load fails, stale-if-error
		m := c.Metrics()
		assert.Equal(t, cache.Metrics{Hits: 2, Misses: 2, StaleServed: 2, Loads: 4, LoadErrors: 1}, m)
	})
}

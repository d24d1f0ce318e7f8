package health_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/health"
)

var _ health.StaleAger = (*cache.Cache[string, int])(nil)

type staleAge time.Duration

func (a staleAge) StaleAge() time.Duration { return time.Duration(a) }

func TestCacheLimits(t *testing.T) {
	t.Parallel()
	limits := health.CacheLimits{WarnAge: 5 * time.Minute, MaxAge: time.Hour}
	for _, tt := range []struct {
		age    time.Duration
		limits health.CacheLimits
		want   health.Status
		output string
	}{
		{0, limits, health.Pass, ""},
		{5 * time.Minute, limits, health.Pass, ""},
		{5*time.Minute + time.Second, limits, health.Warn, "cache served stale data 5m1s old, over 5m0s"},
		{time.Hour, limits, health.Warn, "cache served stale data 1h0m0s old, over 5m0s"},
		{time.Hour + 1500*time.Millisecond, limits, health.Fail, "cache served stale data 1h0m2s old, over 1h0m0s"},
		{2 * time.Hour, health.CacheLimits{MaxAge: time.Hour}, health.Fail, "cache served stale data 2h0m0s old, over 1h0m0s"},
		{30 * time.Minute, health.CacheLimits{MaxAge: time.Hour}, health.Pass, ""},
		{2 * time.Hour, health.CacheLimits{WarnAge: time.Hour}, health.Warn, "cache served stale data 2h0m0s old, over 1h0m0s"},
		{100 * time.Hour, health.CacheLimits{}, health.Pass, ""},
	} {
		r := health.Cache(staleAge(tt.age), tt.limits)(context.Background())
		assert.Equal(t, tt.want, r.Status, "%v with %+v", tt.age, tt.limits)
		assert.Equal(t, tt.output, r.Output)
		assert.Equal(t, tt.age.Seconds(), r.ObservedValue)
		assert.Equal(t, "s", r.ObservedUnit)
	}

	var nilCache *cache.Cache[string, int]
	assert.Panics(t, func() { health.Cache(nil, limits) })
	assert.Panics(t, func() { health.Cache(nilCache, limits) })
	assert.Panics(t, func() { health.Cache(staleAge(0), health.CacheLimits{MaxAge: -1}) })
	assert.Panics(t, func() { health.Cache(staleAge(0), health.CacheLimits{WarnAge: -1}) })
	assert.PanicsWithValue(t, "health: CacheLimits.WarnAge 1h0m0s is not less than MaxAge 1h0m0s", func() {
		health.Cache(staleAge(0), health.CacheLimits{WarnAge: time.Hour, MaxAge: time.Hour})
	})
}

// TestCacheCheck follows a cache through an outage of its source, in
// virtual time: readiness passes while it serves fresh data, warns and
// then fails as the data it serves stale ages, and passes again once the
// source is back; a restarted process that restores an old snapshot while
// the source is still down fails at once.
func TestCacheCheck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		errDown := errors.New("source down")
		load := func(ctx context.Context, k string) (int, error) {
			if down.Load() {
				return 0, errDown
			}
			return len(k), nil
		}
		cfg := cache.Config{TTL: time.Minute, StaleWhileRevalidate: 10 * time.Second, StaleIfError: 24 * time.Hour}
		users := cache.New(load, cfg)
		defer users.Close()
		h := health.New(health.Config{})
		h.Add("cache:users", "component", health.Cache(users, health.CacheLimits{WarnAge: 5 * time.Minute, MaxAge: 30 * time.Minute}))
		ctx := context.Background()
		status := func() health.Status {
			s, _ := h.Report(ctx)
			return s
		}
		read := func(c *cache.Cache[string, int]) {
			_, err := c.Get(ctx, "alice")
			require.NoError(t, err)
			synctest.Wait()
		}

		read(users)
		assert.Equal(t, health.Pass, status(), "fresh")
		time.Sleep(65 * time.Second)
		read(users) // stale while revalidate: normal, and young
		read(users)
		assert.Equal(t, health.Pass, status())

		down.Store(true)
		for range 6 {
			time.Sleep(time.Minute)
			read(users)
		}
		assert.Equal(t, health.Warn, status(), "six minutes of outage")
		for range 30 {
			time.Sleep(time.Minute)
			read(users)
		}
		_, res := h.Report(ctx)
		require.Equal(t, health.Fail, res["cache:users"].Status, "half an hour of outage")
		assert.Equal(t, (36 * time.Minute).Seconds(), res["cache:users"].ObservedValue)
		a := probe(t, h.Ready())
		assert.Equal(t, 503, a.Code)
		c := a.Body["checks"].(map[string]any)["cache:users"].([]any)[0].(map[string]any)
		assert.Equal(t, "fail", c["status"])
		assert.Equal(t, "s", c["observedUnit"])
		assert.EqualValues(t, 2160, c["observedValue"])
		assert.Equal(t, "cache served stale data 36m0s old, over 30m0s", c["output"])

		// A restart from a snapshot while the source is still down.
		var snap bytes.Buffer
		_, err := users.Save(&snap)
		require.NoError(t, err)
		time.Sleep(time.Hour)
		restarted := cache.New(load, cfg)
		defer restarted.Close()
		_, err = restarted.Load(&snap)
		require.NoError(t, err)
		h2 := health.New(health.Config{})
		h2.Add("cache:users", "component", health.Cache(restarted, health.CacheLimits{MaxAge: 30 * time.Minute}))
		s, _ := h2.Report(ctx)
		assert.Equal(t, health.Pass, s, "nothing served yet")
		read(restarted)
		s, _ = h2.Report(ctx)
		assert.Equal(t, health.Fail, s, "the snapshot's data is an hour and a half old")

		assert.Equal(t, health.Pass, status(), "the first process served nothing stale for an hour")

		// The source is back: the reads are fresh, and the check passes
		// again within two minutes.
		down.Store(false)
		read(restarted)
		s, _ = h2.Report(ctx)
		assert.Equal(t, health.Fail, s, "the stale answer of this minute still counts")
		time.Sleep(2 * cache.StaleWindow)
		read(restarted)
		s, _ = h2.Report(ctx)
		assert.Equal(t, health.Pass, s)
	})
}

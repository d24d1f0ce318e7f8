package ratelimit_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

// TestInvalidConfigPanics: bad limits and configurations fail at
// construction with a "ratelimit: " panic, never at request time.
func TestInvalidConfigPanics(t *testing.T) {
	t.Parallel()
	tests := map[string]func(){
		"keyed burst 0":        func() { ratelimit.NewGroup(1, 0, ratelimit.GroupConfig{}) },
		"limiter burst 0":      func() { ratelimit.New(1, 0, ratelimit.Config{}) },
		"keyed NaN rate":       func() { ratelimit.NewGroup(rate.Limit(math.NaN()), 1, ratelimit.GroupConfig{}) },
		"keyed +Inf rate":      func() { ratelimit.NewGroup(rate.Limit(math.Inf(1)), 1, ratelimit.GroupConfig{}) },
		"limiter +Inf rate":    func() { ratelimit.New(rate.Limit(math.Inf(1)), 1, ratelimit.Config{}) },
		"throttle NaN K":       func() { ratelimit.NewThrottle(ratelimit.ThrottleConfig{K: math.NaN()}) },
		"queue without a wait": func() { ratelimit.New(1, 1, ratelimit.Config{MaxQueue: 8}) },
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.Contains(t, r, "ratelimit: ")
			}()
			fn()
		})
	}
}

// TestTierBurstZeroPanics: a QuotaFor tier with burst 0 would refuse every
// call of its keys without a word; it panics when QuotaFor returns it.
func TestTierBurstZeroPanics(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
		QuotaFor: func(string) (ratelimit.Quota, bool) { return ratelimit.Quota{Rate: 1}, true },
	})
	defer func() {
		r := recover()
		require.NotNil(t, r, "no panic")
		assert.Contains(t, r, "ratelimit: ")
	}()
	k.Allow("x")
}

// TestMaxWaitNone: MaxWait None is zero: never wait; MaxQueue None without
// a MaxWait says the same and is accepted.
func TestMaxWaitNone(t *testing.T) {
	t.Parallel()
	for _, cfg := range []ratelimit.Config{{MaxWait: resilience.None}, {MaxQueue: resilience.None}} {
		l := ratelimit.New(1, 1, cfg)
		require.True(t, l.Allow())
		require.ErrorIs(t, l.Wait(context.Background()), ratelimit.ErrLimited)
	}
}

// TestMaxWaitForever: resilience.Forever waits as long as the context
// allows, and no longer.
func TestMaxWaitForever(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(rate.Every(time.Hour), 1, ratelimit.Config{MaxWait: resilience.Forever})
		k := ratelimit.NewGroup(rate.Every(time.Hour), 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: resilience.Forever}})
		require.True(t, l.Allow())
		require.True(t, k.Allow("k"))
		start := time.Now()
		require.NoError(t, l.Wait(context.Background()))
		require.NoError(t, k.Wait(context.Background(), "k"))
		assert.Equal(t, time.Hour, time.Since(start))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.ErrorIs(t, l.Wait(ctx), ratelimit.ErrLimited, "the deadline comes first: refused at once")
		require.ErrorIs(t, k.Wait(ctx, "k"), ratelimit.ErrLimited)
		assert.Equal(t, time.Hour, time.Since(start))
	})
}

// TestDefaultMaxQueue: with a MaxWait and no MaxQueue, at most 1024 calls
// wait at once; the next is refused at once.
func TestDefaultMaxQueue(t *testing.T) {
	t.Parallel()
	for name, wait := range map[string]func(ctx context.Context) error{
		"Limiter": func() func(context.Context) error {
			l := ratelimit.New(1, 1, ratelimit.Config{MaxWait: resilience.Forever})
			l.Allow()
			return l.Wait
		}(),
		"Group": func() func(context.Context) error {
			k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: resilience.Forever}})
			k.Allow("k")
			return func(ctx context.Context) error { return k.Wait(ctx, "k") }
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for range 1024 {
					wg.Go(func() { _ = wait(ctx) })
				}
				synctest.Wait()
				err := wait(ctx)
				var le *ratelimit.LimitedError
				require.ErrorAs(t, err, &le)
				assert.Equal(t, ratelimit.ReasonQueueFull, le.Reason())
				cancel()
				wg.Wait()
			})
		})
	}
}

// TestGroupRateZeroAdmitsBurst: a keyed bucket with rate 0 holds burst
// tokens that never come back, as rate.Limiter's does.
func TestGroupRateZeroAdmitsBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(0, 3, ratelimit.GroupConfig{})
		l := rate.NewLimiter(0, 3)
		for i := range 10 {
			assert.Equal(t, l.Allow(), k.Allow("k"), "call %d", i)
			time.Sleep(time.Hour)
		}
		k = ratelimit.NewGroup(0, 10, ratelimit.GroupConfig{})
		l = rate.NewLimiter(0, 10)
		for i, n := range []int{4, 0, 5, 2, 1, 1, 0, 1} {
			assert.Equal(t, l.AllowN(time.Now(), n), k.AllowN("k", n), "call %d, cost %d", i, n)
		}
		d, _ := k.Take(context.Background(), "k", 1)
		assert.False(t, d.Allowed)
		assert.Zero(t, d.RetryAfter, "the tokens never come back")
		assert.Equal(t, time.Duration(math.MaxInt64), d.Reset)
		assert.Equal(t, 1, k.Len(), "a spent key stays: sweeping it would refill it")
	})
}

// TestGroupTierChanges: a key that moves between a tier that never refills
// and one that does starts the new tier with a full bucket.
func TestGroupTierChanges(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var tier atomic.Value
		tier.Store(ratelimit.Quota{Rate: 0, Burst: 2})
		k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
			QuotaFor: func(string) (ratelimit.Quota, bool) { return tier.Load().(ratelimit.Quota), true },
		})
		assert.True(t, k.AllowN("k", 2))
		assert.False(t, k.Allow("k"))
		tier.Store(ratelimit.Quota{Rate: 1, Burst: 3})
		assert.True(t, k.AllowN("k", 3), "a full bucket of the new tier")
		assert.False(t, k.Allow("k"))
		tier.Store(ratelimit.Quota{Rate: 0, Burst: 2})
		assert.True(t, k.AllowN("k", 2))
	})
}

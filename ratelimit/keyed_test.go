package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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

func TestKeyedKeysAreIndependent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(1, 2, ratelimit.KeyedConfig{})
		assert.True(t, k.Allow("a"))
		assert.True(t, k.Allow("a"))
		assert.False(t, k.Allow("a"))
		assert.True(t, k.Allow("b"))
		assert.Equal(t, 2, k.Len())
		time.Sleep(time.Second)
		assert.True(t, k.Allow("a"))
		assert.False(t, k.Allow("a"))
	})
}

func TestKeyedTiers(t *testing.T) {
	t.Parallel()
	tiers := map[string]ratelimit.Quota{
		"pro":   {Rate: 100, Burst: 10, Name: "pro"},
		"quota": {Rate: 0, Burst: 3, Name: "quota"}, // never refills
		"admin": {Rate: rate.Inf},
	}
	k := ratelimit.NewKeyed(1, 1, ratelimit.KeyedConfig{
		Config:   ratelimit.Config{Name: "free"},
		QuotaFor: func(key string) (ratelimit.Quota, bool) { l, ok := tiers[key]; return l, ok },
	})
	tests := []struct {
		key     string
		allowed int
		limit   ratelimit.Quota
	}{
		{"someone", 1, ratelimit.Quota{Rate: 1, Burst: 1, Name: "free"}},
		{"pro", 10, tiers["pro"]},
		{"quota", 3, tiers["quota"]},
		{"admin", 1000, tiers["admin"]},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.limit, k.QuotaFor(tt.key))
			n := 0
			for n < 1000 && k.Allow(tt.key) {
				n++
			}
			assert.Equal(t, tt.allowed, n)
		})
	}
}

func TestKeyedDoUsesContextKey(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewKeyed(1, 1, ratelimit.KeyedConfig{})
	ctxA := resilience.WithKey(context.Background(), "a")
	ctxB := resilience.WithKey(context.Background(), "b")
	require.NoError(t, k.Do(ctxA, nop))
	err := k.Do(ctxA, nop)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "a", le.Key)
	assert.ErrorIs(t, err, ratelimit.ErrLimited)
	require.NoError(t, k.Do(ctxB, nop))

	custom := ratelimit.NewKeyed(1, 1, ratelimit.KeyedConfig{Key: func(context.Context) string { return "same" }})
	require.NoError(t, custom.Do(ctxA, nop))
	require.Error(t, custom.Do(ctxB, nop))
}

func TestKeyedDoContract(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewKeyed(10, 10, ratelimit.KeyedConfig{})
	boom := errors1("boom")
	calls := 0
	err := k.DoKey(context.Background(), "x", func(context.Context) error { calls++; return boom })
	assert.Equal(t, boom, err)
	assert.Equal(t, 1, calls)
	assert.PanicsWithValue(t, "op", func() {
		_ = k.DoKey(context.Background(), "x", func(context.Context) error { panic("op") })
	})
	require.NoError(t, k.DoKey(context.Background(), "x", nop))
}

type errors1 string

func (e errors1) Error() string { return string(e) }

func TestKeyedMaxWaitAndRefund(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(1, 1, ratelimit.KeyedConfig{Config: ratelimit.Config{MaxWait: 5 * time.Second, MaxQueue: 1}})
		ctx := context.Background()
		require.True(t, k.Allow("k"))

		start := time.Now()
		require.NoError(t, k.Wait(ctx, "k"))
		assert.Equal(t, time.Second, time.Since(start), "waited for the next token")

		// A waiter that gives up returns its reservation.
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- k.Wait(cctx, "k") }()
		synctest.Wait()
		assert.Equal(t, 1, k.Waiting())
		err := k.Wait(ctx, "k") // over MaxQueue
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonQueueFull, le.Reason)
		stopped := time.Now()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.Zero(t, time.Since(stopped), "a cancelled waiter returns at once")
		time.Sleep(time.Second)
		assert.True(t, k.Allow("k"), "the cancelled reservation was given back")

		// Too long a wait is refused at once.
		require.NoError(t, k.WaitN(ctx, "k", 0))
		err = k.WaitN(ctx, "k", 1)
		require.NoError(t, err)
		start = time.Now()
		err = k.WaitN(ctx, "other", 2)
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonTooCostly, le.Reason)
		dctx, dcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer dcancel()
		err = k.Wait(dctx, "k")
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonRate, le.Reason)
		assert.Equal(t, time.Second, le.Wait)
		assert.Zero(t, time.Since(start))
	})
}

func TestKeyedTake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var limited []string
		var mu sync.Mutex
		k := ratelimit.NewKeyed(2, 4, ratelimit.KeyedConfig{Config: ratelimit.Config{
			OnLimited: func(_ context.Context, e *ratelimit.LimitedError) {
				mu.Lock()
				limited = append(limited, e.Key)
				mu.Unlock()
			},
		}})
		ctx := context.Background()
		d, err := k.Take(ctx, "u", 3)
		require.NoError(t, err)
		assert.Equal(t, ratelimit.Decision{Allowed: true, Quota: ratelimit.Quota{Rate: 2, Burst: 4}, Remaining: 1, Reset: 1500 * time.Millisecond}, d)
		d, _ = k.Take(ctx, "u", 2)
		assert.False(t, d.Allowed)
		assert.Equal(t, ratelimit.ReasonRate, d.Reason)
		assert.Equal(t, 1, d.Remaining)
		assert.Equal(t, 500*time.Millisecond, d.RetryAfter)
		assert.Equal(t, 1500*time.Millisecond, d.Reset)
		d, _ = k.Take(ctx, "u", 5)
		assert.Equal(t, ratelimit.ReasonTooCostly, d.Reason)
		mu.Lock()
		assert.Equal(t, []string{"u", "u"}, limited)
		mu.Unlock()
		require.EqualError(t, d.Err("u"), `ratelimit: limited: cost exceeds the burst for key "u"`)
	})
}

func TestKeyedPausesOn429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(10, 5, ratelimit.KeyedConfig{})
		ctx := context.Background()
		err := k.DoKey(ctx, "api.example.com", func(context.Context) error {
			return &resilience.StatusError{Code: 429, Wait: 2 * time.Second}
		})
		require.Error(t, err)
		err = k.DoKey(ctx, "api.example.com", nop)
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 2*time.Second, le.Wait)
		assert.True(t, k.Allow("other.example.com"), "other hosts are not paused")
		time.Sleep(2 * time.Second)
		assert.True(t, k.Allow("api.example.com"))
		assert.False(t, k.Allow("api.example.com"), "after a pause the bucket starts with one token")

		k.Pause("x", time.Second)
		assert.False(t, k.Allow("x"))
		k.Pause("x", 0)
		time.Sleep(time.Second)
		assert.True(t, k.Allow("x"))
	})
}

// TestKeyedMatchesTokenBucket checks that GCRA admits exactly what
// x/time/rate's token bucket admits, on random costs and arrival times.
func TestKeyedMatchesTokenBucket(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 1))
				r, b := rate.Limit(1+rng.IntN(50)), 1+rng.IntN(20)
				k := ratelimit.NewKeyed(r, b, ratelimit.KeyedConfig{})
				l := rate.NewLimiter(r, b)
				for i := range 2000 {
					time.Sleep(time.Duration(rng.IntN(int(2 * time.Second / time.Duration(r)))))
					n := 1 + rng.IntN(b)
					require.Equal(t, l.AllowN(time.Now(), n), k.AllowN("k", n), "call %d (rate %v burst %d cost %d)", i, r, b, n)
				}
			})
		})
	}
}

// TestKeyedForgetsFullBuckets: keys whose bucket refilled are dropped while
// new keys arrive, so memory follows the live set, not the history.
func TestKeyedForgetsFullBuckets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(10, 10, ratelimit.KeyedConfig{MaxKeys: 100000})
		for i := range 20000 {
			k.Allow(fmt.Sprint("client-", i))
			if i%100 == 99 {
				time.Sleep(time.Second) // everyone's bucket refills
			}
		}
		assert.Less(t, k.Len(), 5000, "full buckets are swept")
	})
}

// TestKeyedMaxKeysUnderAttack: a flood of distinct keys cannot grow memory
// past MaxKeys, and a key that spent its bucket keeps its state.
func TestKeyedMaxKeysUnderAttack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const maxKeys = 4096
		k := ratelimit.NewKeyed(1, 5, ratelimit.KeyedConfig{MaxKeys: maxKeys})
		for k.Allow("victim") {
		}
		for i := range 100000 {
			k.Allow(fmt.Sprint("attacker-", i))
			if i%1000 == 0 {
				require.LessOrEqual(t, k.Len(), maxKeys)
			}
		}
		assert.LessOrEqual(t, k.Len(), maxKeys, "MaxKeys is a bound, not an estimate")
		assert.False(t, k.Allow("victim"), "the emptiest bucket was not evicted")
	})
}

func TestKeyedHammer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(50, 5, ratelimit.KeyedConfig{MaxKeys: 256, Config: ratelimit.Config{MaxWait: 20 * time.Millisecond}})
		var admitted [4]atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := range 16 {
			wg.Go(func() {
				for i := 0; time.Since(start) < time.Second; i++ {
					key := g % 4
					if k.Wait(context.Background(), fmt.Sprint("key-", key)) == nil {
						admitted[key].Add(1)
					} else {
						time.Sleep(time.Millisecond)
					}
					k.Allow(fmt.Sprint("noise-", g, "-", i)) // churn the key space
				}
			})
		}
		wg.Wait()
		most := 5 + 50*time.Since(start).Seconds()
		for i := range admitted {
			assert.LessOrEqual(t, float64(admitted[i].Load()), most)
			assert.GreaterOrEqual(t, admitted[i].Load(), int64(54))
		}
	})
}

func TestKeyedFreeCallLooksOnly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(1, 5, ratelimit.KeyedConfig{})
		d, _ := k.Take(context.Background(), "k", 0)
		assert.True(t, d.Allowed)
		assert.Equal(t, 5, d.Remaining)
		assert.Zero(t, k.Len(), "a free call stores nothing")
		require.True(t, k.AllowN("k", 3))
		d, _ = k.Take(context.Background(), "k", 0)
		assert.Equal(t, 2, d.Remaining)
		assert.Equal(t, 3*time.Second, d.Reset)
	})
}

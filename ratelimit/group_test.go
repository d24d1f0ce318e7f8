package ratelimit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
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

func TestGroupKeysAreIndependent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(1, 2, ratelimit.GroupConfig{})
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

func TestGroupTiers(t *testing.T) {
	t.Parallel()
	tiers := map[string]ratelimit.Quota{
		"pro":   {Rate: 100, Burst: 10, Name: "pro"},
		"quota": {Rate: 0, Burst: 3, Name: "quota"}, // never refills
		"admin": {Rate: rate.Inf},
	}
	k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
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

func TestGroupDoUsesContextKey(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{})
	ctxA := resilience.WithKey(context.Background(), "a")
	ctxB := resilience.WithKey(context.Background(), "b")
	require.NoError(t, k.Do(ctxA, nop))
	err := k.Do(ctxA, nop)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "a", le.Key())
	assert.ErrorIs(t, err, ratelimit.ErrLimited)
	require.NoError(t, k.Do(ctxB, nop))

	custom := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Key: func(context.Context) string { return "same" }})
	require.NoError(t, custom.Do(ctxA, nop))
	require.Error(t, custom.Do(ctxB, nop))
}

func TestGroupDoContract(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewGroup(10, 10, ratelimit.GroupConfig{})
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

func TestGroupMaxWaitAndRefund(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: 5 * time.Second, MaxQueue: 1}})
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
		assert.Equal(t, ratelimit.ReasonQueueFull, le.Reason())
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
		assert.Equal(t, ratelimit.ReasonTooCostly, le.Reason())
		dctx, dcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer dcancel()
		err = k.Wait(dctx, "k")
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonRate, le.Reason())
		assert.Equal(t, time.Second, le.RetryAfter())
		assert.Zero(t, time.Since(start))
	})
}

func TestGroupTake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var limited []string
		var mu sync.Mutex
		k := ratelimit.NewGroup(2, 4, ratelimit.GroupConfig{Config: ratelimit.Config{
			OnLimited: func(_ context.Context, e *ratelimit.LimitedError) {
				mu.Lock()
				limited = append(limited, e.Key())
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

func TestGroupPausesOn429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(10, 5, ratelimit.GroupConfig{})
		ctx := context.Background()
		err := k.DoKey(ctx, "api.example.com", func(context.Context) error {
			return &resilience.StatusError{Code: 429, Wait: 2 * time.Second}
		})
		require.Error(t, err)
		err = k.DoKey(ctx, "api.example.com", nop)
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 2*time.Second, le.RetryAfter())
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

// TestGroupMatchesTokenBucket checks that GCRA admits exactly what
// x/time/rate's token bucket admits, on random costs and arrival times.
func TestGroupMatchesTokenBucket(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 1))
				r, b := rate.Limit(1+rng.IntN(50)), 1+rng.IntN(20)
				k := ratelimit.NewGroup(r, b, ratelimit.GroupConfig{})
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

// TestGroupForgetsFullBuckets: keys whose bucket refilled are dropped while
// new keys arrive, so memory follows the live set, not the history.
func TestGroupForgetsFullBuckets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(10, 10, ratelimit.GroupConfig{MaxKeys: 100000})
		for i := range 20000 {
			k.Allow(fmt.Sprint("client-", i))
			if i%100 == 99 {
				time.Sleep(time.Second) // everyone's bucket refills
			}
		}
		assert.Less(t, k.Len(), 5000, "full buckets are swept")
	})
}

// TestGroupMaxKeysUnderAttack: a flood of distinct keys cannot grow memory
// past MaxKeys, and a key that spent its bucket keeps its state.
func TestGroupMaxKeysUnderAttack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const maxKeys = 4096
		k := ratelimit.NewGroup(1, 5, ratelimit.GroupConfig{MaxKeys: maxKeys})
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

func TestGroupHammer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(50, 5, ratelimit.GroupConfig{MaxKeys: 256, Config: ratelimit.Config{MaxWait: 20 * time.Millisecond}})
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

func TestGroupFreeCallLooksOnly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(1, 5, ratelimit.GroupConfig{})
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

// TestGroupMetricsOfKey: Metrics(key) is the state of one key's bucket —
// tokens, quota, pause — and looks without storing anything.
func TestGroupMetricsOfKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := ratelimit.NewGroup(2, 4, ratelimit.GroupConfig{
			Config: ratelimit.Config{Name: "free"},
			QuotaFor: func(key string) (ratelimit.Quota, bool) {
				return ratelimit.Quota{Rate: 0, Burst: 3, Name: "once"}, key == "once"
			},
		})
		m, ok := g.Metrics("absent")
		assert.False(t, ok, "a key never seen is not held")
		assert.Equal(t, ratelimit.Metrics{Tokens: 4, Quota: ratelimit.Quota{Rate: 2, Burst: 4, Name: "free"}}, m,
			"an absent key reports the full bucket it would get")
		assert.Zero(t, g.Len(), "Metrics(key) stores nothing")

		require.True(t, g.AllowN("k", 3))
		m, ok = g.Metrics("k")
		require.True(t, ok)
		assert.Equal(t, 1.0, m.Tokens)
		assert.Equal(t, ratelimit.Quota{Rate: 2, Burst: 4, Name: "free"}, m.Quota)
		assert.Zero(t, m.Paused)
		time.Sleep(250 * time.Millisecond)
		m, _ = g.Metrics("k")
		assert.Equal(t, 1.5, m.Tokens, "tokens refill between whole ones")

		g.Pause("k", time.Second)
		m, ok = g.Metrics("k")
		require.True(t, ok)
		assert.Equal(t, time.Second, m.Paused)
		assert.LessOrEqual(t, m.Tokens, 0.0, "a paused bucket holds nothing")

		require.True(t, g.AllowN("once", 2))
		m, ok = g.Metrics("once")
		require.True(t, ok)
		assert.Equal(t, 1.0, m.Tokens)
		assert.Equal(t, "once", m.Quota.Name)
		assert.Equal(t, 2, g.Len())
	})
}

// TestGroupRange: Range visits every key held, with the Metrics that
// Metrics(key) reports, and stops when f returns false. f may call the
// group (no lock is held).
func TestGroupRange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := ratelimit.NewGroup(1, 5, ratelimit.GroupConfig{})
		for i := range 10 {
			require.True(t, g.AllowN(fmt.Sprint("key-", i), 1+i%5))
		}
		inf := ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{})
		inf.Pause("host", time.Minute)

		seen := map[string]ratelimit.Metrics{}
		g.Range(func(key string, m ratelimit.Metrics) bool {
			seen[key] = m
			_ = g.Len() // no lock is held while f runs
			return true
		})
		require.Len(t, seen, 10)
		for key, m := range seen {
			want, ok := g.Metrics(key)
			require.True(t, ok)
			assert.Equal(t, want, m, key)
		}
		assert.Equal(t, 4.0, seen["key-0"].Tokens)

		n := 0
		g.Range(func(string, ratelimit.Metrics) bool { n++; return n < 3 })
		assert.Equal(t, 3, n, "Range stops when f returns false")

		var paused []string
		inf.Range(func(key string, m ratelimit.Metrics) bool {
			paused = append(paused, key)
			assert.Equal(t, time.Minute, m.Paused)
			return true
		})
		assert.Equal(t, []string{"host"}, paused, "a paused key with no bucket is held too")
		assert.Equal(t, 1, inf.Len())
	})
}

// TestGroupTotals: Totals are the group-wide counters (what Keyed.Metrics
// was).
func TestGroupTotals(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewGroup(1, 2, ratelimit.GroupConfig{})
	ctx := context.Background()
	for range 3 {
		_ = g.DoKey(ctx, "a", nop)
	}
	_ = g.DoKey(ctx, "b", nop)
	m := g.Totals()
	assert.Equal(t, uint64(3), m.Admitted)
	assert.Equal(t, uint64(1), m.Refused[ratelimit.ReasonRate])
	assert.Equal(t, 2, m.Keys)
	assert.Zero(t, m.Tokens)
	assert.Zero(t, m.Quota)
}

// TestGroupLongKeys: a key longer than 128 bytes is held as "sha256:" and
// the hex SHA-256 of it: one bucket per long key all the same, and errors
// name the caller's key.
func TestGroupLongKeys(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{})
	long := strings.Repeat("a", 1000)
	other := strings.Repeat("a", 999) + "b"
	require.True(t, g.Allow(long))
	assert.False(t, g.Allow(long), "a long key keeps its bucket")
	assert.True(t, g.Allow(other), "another long key has its own")
	err := g.DoKey(context.Background(), long, nop)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, long, le.Key(), "the error names the caller's key")

	_, ok := g.Metrics(long)
	assert.True(t, ok, "Metrics takes the caller's key")
	sum := sha256.Sum256([]byte(long))
	var held []string
	g.Range(func(key string, _ ratelimit.Metrics) bool { held = append(held, key); return true })
	assert.Contains(t, held, "sha256:"+hex.EncodeToString(sum[:]))
	for _, key := range held {
		assert.LessOrEqual(t, len(key), 128)
	}

	g.Pause(other, time.Hour)
	assert.Equal(t, time.Hour, g.Paused(other).Round(time.Minute))

	exact := strings.Repeat("x", 128)
	require.True(t, g.Allow(exact))
	_, ok = g.Metrics(exact)
	assert.True(t, ok)
}

// TestGroupManyLongKeys: 20,000 distinct keys of 10 KB under MaxKeys
// 10,000 keep at most 10,000 keys of at most 128 bytes each, so the heap
// stays far below the 200 MB the keys themselves weigh.
func TestGroupManyLongKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 200 MB of keys")
	}
	const n, size, maxKeys = 20000, 10 << 10, 10000
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := ratelimit.NewGroup(1, 5, ratelimit.GroupConfig{MaxKeys: maxKeys})
	buf := make([]byte, size)
	for i := range n {
		copy(buf, fmt.Sprintf("client-%08d-", i))
		require.True(t, g.Allow(string(buf))) // a fresh 10 KB string each time
	}
	assert.LessOrEqual(t, g.Len(), maxKeys)
	held := 0
	g.Range(func(key string, _ ratelimit.Metrics) bool {
		held++
		assert.LessOrEqual(t, len(key), 128)
		return true
	})
	assert.Equal(t, g.Len(), held)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys held, heap grew %.1f MiB", held, float64(grown)/(1<<20))
	assert.Less(t, grown, int64(30<<20), "heap in use after GC")
	runtime.KeepAlive(g)
}

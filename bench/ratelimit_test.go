package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/ratelimit"
)

// The rate-limit benchmarks run, serially (BenchmarkRateLimit) and from
// every CPU at once (BenchmarkRateLimitParallel):
//
//   - "allow": take a token from a bucket that always has one. Ours is
//     Limiter.Allow; the floor is x/time/rate's Allow, which ours wraps.
//   - "do": run a call through the limiter as a policy. Ours is Limiter.Do;
//     x-time-rate is Allow followed by the call; failsafe-go is its smooth
//     rate limiter in its executor.
//   - "rejected": the same with an empty bucket (ours returns a
//     *LimitedError carrying RetryAfter, so it allocates it).
//   - "keyed": a bucket per key, over 1000 live keys. Ours is Group.Allow;
//     x-time-rate is the usual hand-made map of *rate.Limiter under a
//     mutex.
//
// BenchmarkRateLimitMemory reports the bytes per live key of a keyed
// limiter holding 1,000,000 keys (metric B/key).

type rlImpl struct {
	name string
	run  func(i int) bool // call number i; reports whether it was admitted
}

var (
	rlCtx   = context.Background()
	rlOp    = func(context.Context) error { return nil }
	rlOpErr = func() error { return nil }
)

const (
	rlRate  = 1e9 // tokens per second: the bucket never runs dry in a benchmark
	rlBurst = 1 << 30
)

func rlScenarios() map[string][]rlImpl {
	ours := ratelimit.New(rlRate, rlBurst, ratelimit.Config{})
	xt := rate.NewLimiter(rlRate, rlBurst)
	oursDo := ratelimit.New(rlRate, rlBurst, ratelimit.Config{})
	xtDo := rate.NewLimiter(rlRate, rlBurst)
	fs := failsafe.With[any](fsratelimiter.NewSmoothWithMaxRate[any](time.Nanosecond))

	oursEmpty := ratelimit.New(1e-9, 1, ratelimit.Config{})
	oursEmpty.Allow()
	xtEmpty := rate.NewLimiter(1e-9, 1)
	xtEmpty.Allow()
	fsEmpty := failsafe.With[any](fsratelimiter.NewBursty[any](1, time.Hour))
	_ = fsEmpty.Run(rlOpErr)

	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("customer-", i)
	}
	keyed := ratelimit.NewGroup(rlRate, rlBurst, ratelimit.GroupConfig{})
	mk := newMutexKeyed()
	for _, k := range keys {
		keyed.Allow(k)
		mk.allow(k)
	}

	return map[string][]rlImpl{
		"allow": {
			{"resilience", func(int) bool { return ours.Allow() }},
			{"x-time-rate", func(int) bool { return xt.Allow() }},
		},
		"do": {
			{"resilience", func(int) bool { return oursDo.Do(rlCtx, rlOp) == nil }},
			{"x-time-rate", func(int) bool { return xtDo.Allow() && rlOp(rlCtx) == nil }},
			{"failsafe-go", func(int) bool { return fs.Run(rlOpErr) == nil }},
		},
		"rejected": {
			{"resilience", func(int) bool { return oursEmpty.Do(rlCtx, rlOp) == nil }},
			{"x-time-rate", func(int) bool { return xtEmpty.Allow() && rlOp(rlCtx) == nil }},
			{"failsafe-go", func(int) bool { return fsEmpty.Run(rlOpErr) == nil }},
		},
		"keyed": {
			{"resilience", func(i int) bool { return keyed.Allow(keys[i%len(keys)]) }},
			{"x-time-rate", func(i int) bool { return mk.allow(keys[i%len(keys)]) }},
		},
	}
}

var rlOrder = []string{"allow", "do", "rejected", "keyed"}

// rlWarm runs every impl for a while before measuring: the first benchmark
// of a process otherwise runs measurably slower than the others (CPU
// frequency and scheduler warm-up), which would bias whichever impl comes
// first.
func rlWarm(scenarios map[string][]rlImpl) {
	for _, impls := range scenarios {
		for _, impl := range impls {
			for i := range 200_000 {
				impl.run(i)
			}
		}
	}
}

// mutexKeyed is the keyed limiter people write by hand: a map of
// x/time/rate limiters under one mutex, never cleaned.
type mutexKeyed struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newMutexKeyed() *mutexKeyed { return &mutexKeyed{m: make(map[string]*rate.Limiter)} }

func (k *mutexKeyed) limiter(key string) *rate.Limiter {
	k.mu.Lock()
	l, ok := k.m[key]
	if !ok {
		l = rate.NewLimiter(rlRate, rlBurst)
		k.m[key] = l
	}
	k.mu.Unlock()
	return l
}

func (k *mutexKeyed) allow(key string) bool { return k.limiter(key).Allow() }

func BenchmarkRateLimit(b *testing.B) {
	scenarios := rlScenarios()
	rlWarm(scenarios)
	for _, sc := range rlOrder {
		want := sc != "rejected"
		for _, impl := range scenarios[sc] {
			b.Run(sc+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if impl.run(i) != want {
						b.Fatalf("%s/%s: admitted %v, want %v", sc, impl.name, !want, want)
					}
				}
			})
		}
	}
}

func BenchmarkRateLimitParallel(b *testing.B) {
	scenarios := rlScenarios()
	rlWarm(scenarios)
	for _, sc := range rlOrder {
		want := sc != "rejected"
		for _, impl := range scenarios[sc] {
			b.Run(sc+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if impl.run(i) != want {
							b.Errorf("%s/%s: admitted %v, want %v", sc, impl.name, !want, want)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkRateLimitMemory fills a keyed limiter with 1,000,000 live keys
// (each has spent a token, so none may be forgotten) and reports the heap
// it holds per key. Ours counts its own copy of each key string; the
// hand-made map stores the caller's strings.
func BenchmarkRateLimitMemory(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%07d", i)
	}
	impls := []struct {
		name string
		fill func() any
	}{
		{"resilience", func() any {
			k := ratelimit.NewGroup(1, 10, ratelimit.GroupConfig{MaxKeys: 2 * n})
			for _, key := range keys {
				k.Allow(key)
			}
			if k.Len() != n {
				b.Fatalf("keyed holds %d keys, want %d", k.Len(), n)
			}
			return k
		}},
		{"x-time-rate", func() any {
			k := newMutexKeyed()
			for _, key := range keys {
				k.allow(key)
			}
			return k
		}},
	}
	for _, impl := range impls {
		b.Run("1M-keys/"+impl.name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				held := impl.fill()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(held)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

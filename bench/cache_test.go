package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/resiliencekit/resilience/cache"
)

// The cache benchmarks compare the read-through cache of package cache with
// otter v2 used directly, configured alike: the same bound and a TTL (otter:
// ExpiryWriting), read through its loading Get.

const (
	cacheKeys = 1 << 12
	cacheTTL  = time.Hour
)

var cacheKeyList = func() []string {
	ks := make([]string, cacheKeys)
	for i := range ks {
		ks[i] = "key-" + strconv.Itoa(i)
	}
	return ks
}()

func newOurCache(b *testing.B, load func(context.Context, string) (int, error), size int) *cache.Cache[string, int] {
	c := cache.New(load, cache.Config{MaxEntries: size, TTL: cacheTTL})
	b.Cleanup(c.Close)
	return c
}

func newOtter(size int) *otter.Cache[string, int] {
	return otter.Must(&otter.Options[string, int]{
		MaximumSize:      size,
		ExpiryCalculator: otter.ExpiryWriting[string, int](cacheTTL),
	})
}

func lenLoader(_ context.Context, k string) (int, error) { return len(k), nil }

// BenchmarkCacheHit reads keys that are all cached and fresh.
func BenchmarkCacheHit(b *testing.B) {
	ctx := context.Background()
	ours := newOurCache(b, lenLoader, 2*cacheKeys)
	peer := newOtter(2 * cacheKeys)
	otterLoader := otter.LoaderFunc[string, int](lenLoader)
	for _, k := range cacheKeyList {
		ours.Set(k, len(k))
		peer.Set(k, len(k))
	}
	impls := []struct {
		name string
		get  func(string) (int, error)
	}{
		{"resilience", func(k string) (int, error) { return ours.Get(ctx, k) }},
		{"otter", func(k string) (int, error) { return peer.Get(ctx, k, otterLoader) }},
	}
	for _, impl := range impls {
		b.Run("serial/"+impl.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := impl.get(cacheKeyList[i&(cacheKeys-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	for _, impl := range impls {
		b.Run("parallel/"+impl.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(cacheKeys)
				for pb.Next() {
					if _, err := impl.get(cacheKeyList[i&(cacheKeys-1)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkCacheMissStorm has 64 goroutines read one missing key at once,
// for a new key each op, from a source that takes 100 µs. loads/op is how
// many times the source was called per storm.
func BenchmarkCacheMissStorm(b *testing.B) {
	ctx := context.Background()
	var loads atomic.Int64
	slow := func(_ context.Context, k string) (int, error) {
		loads.Add(1)
		time.Sleep(100 * time.Microsecond)
		return len(k), nil
	}
	impls := []struct {
		name string
		make func(b *testing.B) func(string) (int, error) // a new, empty cache
	}{
		{"resilience", func(b *testing.B) func(string) (int, error) {
			c := newOurCache(b, slow, cacheKeys)
			return func(k string) (int, error) { return c.Get(ctx, k) }
		}},
		{"otter", func(b *testing.B) func(string) (int, error) {
			c := newOtter(cacheKeys)
			l := otter.LoaderFunc[string, int](slow)
			return func(k string) (int, error) { return c.Get(ctx, k, l) }
		}},
	}
	for _, impl := range impls {
		b.Run("64-goroutines/"+impl.name, func(b *testing.B) {
			get := impl.make(b)
			loads.Store(0)
			n := 0
			for b.Loop() {
				key := "storm-" + strconv.Itoa(n)
				n++
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range 64 {
					wg.Go(func() {
						<-start
						if _, err := get(key); err != nil {
							b.Error(err)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			b.ReportMetric(float64(loads.Load())/float64(n), "loads/op")
		})
	}
}

// BenchmarkCacheZipf replays a skewed (Zipf, s = 1.01) trace over 100 000
// keys through a cache of 1 000 and reports the hit rate in percent. It is
// the measurement behind building the store on otter: an LRU of the same
// size (container/list) gets 52.3 % on this trace, otter's W-TinyLFU 59-60 %.
func BenchmarkCacheZipf(b *testing.B) {
	const keys, size, n = 100_000, 1_000, 200_000
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, keys-1)
	trace := make([]string, n)
	for i := range trace {
		trace[i] = strconv.FormatUint(z.Uint64(), 10)
	}
	ctx := context.Background()
	b.Run("s1.01/resilience", func(b *testing.B) {
		for b.Loop() {
			c := cache.New(lenLoader, cache.Config{MaxEntries: size, TTL: cacheTTL})
			for _, k := range trace {
				_, _ = c.Get(ctx, k)
			}
			m := c.Metrics()
			c.Close()
			b.ReportMetric(100*float64(m.Hits)/float64(n), "hit%")
		}
	})
	b.Run("s1.01/otter", func(b *testing.B) {
		l := otter.LoaderFunc[string, int](lenLoader)
		for b.Loop() {
			c := newOtter(size)
			hits := 0
			for _, k := range trace {
				if _, ok := c.GetIfPresent(k); ok {
					hits++
				} else {
					_, _ = c.Get(ctx, k, l)
				}
			}
			b.ReportMetric(100*float64(hits)/float64(n), "hit%")
		}
	})
}

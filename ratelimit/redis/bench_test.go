package redis_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resiliencekit/resilience/ratelimit/redis"
)

// BenchmarkRedisTake measures decisions against the machine's Redis with a
// pooled client: one caller at a time ("serial") and 16 concurrent callers
// per CPU ("concurrent"). Besides ns/op it reports decisions/s and the
// 50th and 99th percentile latency of a decision, in microseconds.
func BenchmarkRedisTake(b *testing.B) {
	c := sharedRedis(b)
	for _, sc := range []struct {
		name string
		par  int // goroutines per GOMAXPROCS; 0: serial
	}{{"serial", 0}, {"concurrent", 16}} {
		b.Run(sc.name, func(b *testing.B) {
			l := redis.New(c, 1e6, 1<<30, redis.Config{Prefix: prefix(b)})
			ctx := context.Background()
			var mu sync.Mutex
			var lat []time.Duration
			take := func(local *[]time.Duration) {
				t0 := time.Now()
				d, err := l.Take(ctx, "bench", 1)
				*local = append(*local, time.Since(t0))
				if err != nil || !d.Allowed {
					b.Errorf("decision %+v, %v", d, err)
				}
			}
			start := time.Now()
			if sc.par == 0 {
				for b.Loop() {
					take(&lat)
				}
			} else {
				b.SetParallelism(sc.par)
				b.RunParallel(func(pb *testing.PB) {
					var local []time.Duration
					for pb.Next() {
						take(&local)
					}
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				})
			}
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				b.ReportMetric(float64(n)/elapsed.Seconds(), "decisions/s")
				b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

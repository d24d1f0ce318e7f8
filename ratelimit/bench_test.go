package ratelimit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

// The success paths, serial and parallel: what Metrics must not slow down.
func BenchmarkDo(b *testing.B) {
	ctx := resilience.WithKey(context.Background(), "key-1")
	op := func(context.Context) error { return nil }
	keys := make([]context.Context, 1024)
	for i := range keys {
		keys[i] = resilience.WithKey(ctx, fmt.Sprint("key-", i))
	}
	policies := []struct {
		name string
		p    resilience.Policy
		keys bool
	}{
		{"Limiter", ratelimit.New(1e12, 1<<30, ratelimit.Config{}), false},
		{"Group", ratelimit.NewGroup(1e12, 1<<30, ratelimit.GroupConfig{}), true},
		{"Throttle", ratelimit.NewThrottle(ratelimit.ThrottleConfig{}), false},
	}
	for _, pc := range policies {
		b.Run(pc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := ctx
				if pc.keys {
					c = keys[i&1023]
					i++
				}
				_ = pc.p.Do(c, op)
			}
		})
		b.Run(pc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					c := ctx
					if pc.keys {
						c = keys[i&1023]
						i++
					}
					_ = pc.p.Do(c, op)
				}
			})
		})
	}
}

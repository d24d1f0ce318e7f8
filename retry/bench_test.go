package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience/retry"
)

// BenchmarkDo measures the success path (first attempt succeeds) with each
// kind of limit configured; see bench/ for the comparison with peers.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for _, bc := range []struct {
		name string
		cfg  retry.Config
	}{
		{"default", retry.Config{}},
		{"token-budget", retry.Config{Budget: retry.NewTokenBudget(10, 0.1)}},
		{"ratio-budget", retry.Config{Budget: retry.NewRatioBudget(retry.RatioConfig{})}},
		{"max-elapsed", retry.Config{MaxElapsed: time.Minute}},
	} {
		r := retry.New(bc.cfg)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Do(ctx, op)
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = r.Do(ctx, op)
				}
			})
		})
	}
}

package retry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
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
		{"observer", retry.Config{Observer: resilience.ObserverFunc(func(context.Context, resilience.Event) {})}},
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

// BenchmarkDelay measures Retry.Delay for a near and a far retry: with the
// built-in backoff its cost does not grow with the retry number.
func BenchmarkDelay(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  retry.Config
	}{
		{"full", retry.Config{}},
		{"equal", retry.Config{Jitter: retry.JitterEqual, InitialDelay: time.Second, MaxDelay: 5 * time.Minute}},
		{"decorrelated", retry.Config{Jitter: retry.JitterDecorrelated}},
	} {
		r := retry.New(bc.cfg)
		for _, n := range []int{3, 1000} {
			b.Run(fmt.Sprintf("%s/retry-%d", bc.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = r.Delay(n)
				}
			})
		}
	}
}

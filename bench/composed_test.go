package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// BenchmarkComposed runs a successful call through all five policies at
// once — time limit, retry, circuit breaker, bulkhead, rate limiter — as a
// service would wrap a downstream call. The rate limit is set far above
// what the benchmark can reach, so it never refuses.
//
//   - resilience: resilience.Chain of the five.
//   - failsafe-go: failsafe.With of the five, in the same order, run with a
//     context as our Do is.
//   - "without-timelimit" leaves the time limit out of both: a time limit
//     costs a timer per call (context.WithTimeout), which dominates.
func BenchmarkComposed(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	fsOp := func() error { return nil }

	ours := func(withTimeout bool) resilience.Policy {
		ps := []resilience.Policy{
			retry.New(retry.Config{}),
			breaker.New(breaker.Config{}),
			bulkhead.New(1<<20, bulkhead.Config{}),
			ratelimit.New(1e12, 1<<30, ratelimit.Config{}),
		}
		if withTimeout {
			ps = append([]resilience.Policy{timelimit.New(time.Minute, timelimit.Config{})}, ps...)
		}
		return resilience.Chain(ps...)
	}
	theirs := func(withTimeout bool) failsafe.Executor[any] {
		ps := []failsafe.Policy[any]{
			retrypolicy.NewWithDefaults[any](),
			circuitbreaker.NewWithDefaults[any](),
			fsbulkhead.New[any](1 << 20),
			fsratelimiter.NewBursty[any](1<<30, time.Second),
		}
		if withTimeout {
			ps = append([]failsafe.Policy[any]{fstimeout.New[any](time.Minute)}, ps...)
		}
		return failsafe.With(ps...).WithContext(ctx)
	}

	for _, sc := range []struct {
		name    string
		timeout bool
	}{{"all-five", true}, {"without-timelimit", false}} {
		p := ours(sc.timeout)
		b.Run(sc.name+"/resilience", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Do(ctx, op); err != nil {
					b.Fatal(err)
				}
			}
		})
		exec := theirs(sc.timeout)
		b.Run(sc.name+"/failsafe-go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := exec.Run(fsOp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkComposedParallel is BenchmarkComposed from every CPU at once.
func BenchmarkComposedParallel(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	p := resilience.Chain(
		retry.New(retry.Config{}),
		breaker.New(breaker.Config{}),
		bulkhead.New(1<<20, bulkhead.Config{}),
		ratelimit.New(1e12, 1<<30, ratelimit.Config{}),
	)
	b.Run("without-timelimit/resilience", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = p.Do(ctx, op)
			}
		})
	})
	exec := failsafe.With[any](
		retrypolicy.NewWithDefaults[any](),
		circuitbreaker.NewWithDefaults[any](),
		fsbulkhead.New[any](1<<20),
		fsratelimiter.NewBursty[any](1<<30, time.Second),
	).WithContext(ctx)
	b.Run("without-timelimit/failsafe-go", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = exec.Run(func() error { return nil })
			}
		})
	})
}

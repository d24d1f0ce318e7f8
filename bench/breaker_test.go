package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	rbreaker "github.com/resiliencekit/resilience/breaker"
)

// The breaker benchmarks run a call that succeeds through a closed breaker,
// in each trip mode, serially (BenchmarkBreaker) and from every CPU at once
// (BenchmarkBreakerParallel), plus the rejection of an open breaker
// (scenario "open"). Each peer is configured as close to our mode as it
// goes:
//
//   - consecutive: 5 failures in a row open the breaker.
//   - count: 50% failures over the last 100 calls (gobreaker has no count
//     window: its counts since the last state change stand in).
//   - time: 50% failures over 10 s in 10 buckets, at least 10 calls.
//   - slow: count window plus a slow-call threshold (ours only measures
//     durations then; the peers run their count window).

var (
	errBench = errors.New("bench: failure")
	okOp     = func(context.Context) error { return nil }
	okAny    = func() (any, error) { return nil, nil }
	okErr    = func() error { return nil }
)

type breakerImpl struct {
	name string
	run  func() error
}

func ratioTrip(c gobreaker.Counts) bool {
	return c.Requests >= 10 && float64(c.TotalFailures)/float64(c.Requests) >= 0.5
}

func breakerScenarios() map[string][]breakerImpl {
	ctx := context.Background()
	ours := func(c rbreaker.Config) breakerImpl {
		b := rbreaker.New(c)
		return breakerImpl{"resilience", func() error { return b.Do(ctx, okOp) }}
	}
	gob := func(s gobreaker.Settings) breakerImpl {
		cb := gobreaker.NewCircuitBreaker[any](s)
		return breakerImpl{"gobreaker", func() error { _, err := cb.Execute(okAny); return err }}
	}
	fs := func(cb circuitbreaker.CircuitBreaker[any]) breakerImpl {
		ex := failsafe.With[any](cb)
		return breakerImpl{"failsafe-go", func() error { return ex.Run(okErr) }}
	}
	eap := func() breakerImpl {
		b := breaker.New(5, 1, time.Minute)
		return breakerImpl{"go-resiliency", func() error { return b.Run(okErr) }}
	}
	return map[string][]breakerImpl{
		"consecutive": {
			ours(rbreaker.Config{ConsecutiveFailures: 5}),
			gob(gobreaker.Settings{ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 }}),
			fs(circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).Build()),
			eap(),
		},
		"count": {
			ours(rbreaker.Config{WindowCalls: 100, FailureRate: 0.5}),
			gob(gobreaker.Settings{ReadyToTrip: ratioTrip}),
			fs(circuitbreaker.NewBuilder[any]().WithFailureThresholdRatio(50, 100).Build()),
		},
		"time": {
			ours(rbreaker.Config{WindowDuration: 10 * time.Second, FailureRate: 0.5, MinCalls: 10}),
			gob(gobreaker.Settings{Interval: 10 * time.Second, BucketPeriod: time.Second, ReadyToTrip: ratioTrip}),
			fs(circuitbreaker.NewBuilder[any]().WithFailureRateThreshold(0.5, 10, 10*time.Second).Build()),
		},
		"slow": {
			ours(rbreaker.Config{WindowCalls: 100, FailureRate: 0.5, SlowCall: time.Second}),
			fs(circuitbreaker.NewBuilder[any]().WithFailureThresholdRatio(50, 100).Build()),
		},
	}
}

var breakerOrder = []string{"consecutive", "count", "time", "slow"}

func BenchmarkBreaker(b *testing.B) {
	sc := breakerScenarios()
	for _, name := range breakerOrder {
		for _, impl := range sc[name] {
			b.Run(name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := impl.run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	for _, impl := range openBreakers() {
		b.Run("open/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := impl.run(); err == nil {
					b.Fatal("open breaker let a call through")
				}
			}
		})
	}
}

func BenchmarkBreakerParallel(b *testing.B) {
	sc := breakerScenarios()
	for _, name := range breakerOrder {
		for _, impl := range sc[name] {
			b.Run(name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := impl.run(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// openBreakers returns breakers that are open for the whole benchmark.
func openBreakers() []breakerImpl {
	ctx := context.Background()
	fail := func(context.Context) error { return errBench }
	ours := rbreaker.New(rbreaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	_ = ours.Do(ctx, fail)
	gob := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{Timeout: time.Hour,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	_, _ = gob.Execute(func() (any, error) { return nil, errBench })
	cb := circuitbreaker.NewBuilder[any]().WithFailureThreshold(1).WithDelay(time.Hour).Build()
	ex := failsafe.With[any](cb)
	_ = ex.Run(func() error { return errBench })
	eap := breaker.New(1, 1, time.Hour)
	_ = eap.Run(func() error { return errBench })
	return []breakerImpl{
		{"resilience", func() error { return ours.Do(ctx, okOp) }},
		{"gobreaker", func() error { _, err := gob.Execute(okAny); return err }},
		{"failsafe-go", func() error { return ex.Run(okErr) }},
		{"go-resiliency", func() error { return eap.Run(okErr) }},
	}
}

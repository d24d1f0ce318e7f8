package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// The hedge benchmarks run a call under a hedge that allows one hedge,
// against failsafe-go's hedge policy in its executor with a context (so
// that its attempts, like ours, get contexts that a winner cancels):
//
//   - success: the call succeeds at once, long before the fixed delay of
//     one second, so no hedge is started: the cost of being ready to
//     hedge. Our first attempt runs on the caller's goroutine; failsafe-go
//     runs every attempt on a goroutine of its own.
//   - success-typed: the same through our resilience.Do[string] (two
//     allocations of its own, with or without a policy) against
//     failsafe-go's Get.
//   - success-adaptive: the delay follows the observed latency, which
//     each successful call records: ours warmed up past MinSamples, so
//     that its delay is the quantile (at least MinDelay, 1 ms) and no
//     hedge fires; failsafe-go's quantile delay with an execution
//     threshold that is never reached, so that it records every latency
//     but never hedges (it arms no timer then; ours does).
//
// There is no benchmark of a hedge that fires: its cost is the delay and
// the runtime's (a timer firing, a goroutine starting, the loser waking
// up), not the hedge's own work of a few microseconds. Below a millisecond
// the timer decides it: a P with nothing to run sleeps in epoll, whose
// timeout is in whole milliseconds, unless a spinning M catches the timer
// first, which failsafe-go's goroutine per attempt makes likely; so a
// delay of 1 µs measured ten times apart on the two sides, and one of
// 100 µs took 1.1 ms on both. From 1 ms up both took the delay plus the
// same 0.1-0.3 ms, within the noise of a real-time wait.
//
// BenchmarkHedgeParallel runs the success paths from every CPU at once:
// the shared state of one Hedge (its counters, the latency sketch of the
// adaptive delay) is touched by every call.

type hedgeImpl struct {
	name string
	run  func() error
}

const (
	hedgeDelay = time.Second
	// hedgeWarmUp successful calls make the adaptive delay follow the
	// latency: more than hedge.MinSamples.
	hedgeWarmUp = 100
)

func hedgeScenarios() map[string][]hedgeImpl {
	ctx := context.Background()
	fixed := hedge.New(hedge.Config{Delay: hedgeDelay})
	fsFixed := failsafe.With[any](hedgepolicy.NewWithDelay[any](hedgeDelay)).WithContext(ctx)
	fsFixedString := failsafe.With[string](hedgepolicy.NewWithDelay[string](hedgeDelay)).WithContext(ctx)

	adaptive := hedge.New(hedge.Config{})
	for range hedgeWarmUp {
		_ = adaptive.Do(ctx, okOp)
	}
	fsAdaptive := failsafe.With[any](hedgepolicy.NewWithDelayQuantile[any](hedge.DefaultQuantile, 1000, 1<<62)).WithContext(ctx)

	okString := func(context.Context) (string, error) { return "ok", nil }
	okStringPlain := func() (string, error) { return "ok", nil }
	expectOK := func(got string, err error) error {
		if err != nil {
			return err
		}
		if got != "ok" {
			return benchError("bench: hedge returned " + got)
		}
		return nil
	}

	return map[string][]hedgeImpl{
		"success": {
			{"resilience", func() error { return fixed.Do(ctx, okOp) }},
			{"failsafe-go", func() error { return fsFixed.Run(okErr) }},
		},
		"success-typed": {
			{"resilience", func() error { return expectOK(resilience.Do(ctx, fixed, okString)) }},
			{"failsafe-go", func() error { return expectOK(fsFixedString.Get(okStringPlain)) }},
		},
		"success-adaptive": {
			{"resilience", func() error { return adaptive.Do(ctx, okOp) }},
			{"failsafe-go", func() error { return fsAdaptive.Run(okErr) }},
		},
	}
}

var hedgeOrder = []string{"success", "success-typed", "success-adaptive"}

func BenchmarkHedge(b *testing.B) {
	sc := hedgeScenarios()
	for _, name := range hedgeOrder {
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
}

func BenchmarkHedgeParallel(b *testing.B) {
	sc := hedgeScenarios()
	for _, name := range []string{"success", "success-adaptive"} {
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

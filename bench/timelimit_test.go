package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"

	"github.com/resiliencekit/resilience/timelimit"
)

// The time limit benchmarks run a call under a one-second time limit:
//
//   - in-time: the call returns at once (the usual case). The peers are a
//     bare context.WithTimeout + cancel around the same call (impl
//     "context", the least any time limit costs) and failsafe-go's timeout
//     in its executor.
//   - expired: the time limit is already over when the call starts (1 ns),
//     so the call returns its context's error: the cost of reporting a
//     timeout, ours against the bare context.
//
// BenchmarkTimelimitParallel runs in-time from every CPU at once.

var tlOp = func(ctx context.Context) error { return ctx.Err() }

type timelimitImpl struct {
	name string
	run  func() error
}

func timelimitInTime() []timelimitImpl {
	ctx := context.Background()
	const d = time.Second
	ours := timelimit.New(d, timelimit.Config{})
	fs := failsafe.With[any](fstimeout.New[any](d)).WithContext(ctx)
	return []timelimitImpl{
		{"resilience", func() error { return ours.Do(ctx, tlOp) }},
		{"context", func() error {
			actx, cancel := context.WithTimeout(ctx, d)
			err := tlOp(actx)
			cancel()
			return err
		}},
		{"failsafe-go", func() error {
			return fs.RunWithExecution(func(e failsafe.Execution[any]) error { return tlOp(e.Context()) })
		}},
	}
}

func timelimitExpired() []timelimitImpl {
	ctx := context.Background()
	ours := timelimit.New(time.Nanosecond, timelimit.Config{})
	expect := func(err error) error {
		if err == nil {
			return errUnexpectedSuccess
		}
		return nil
	}
	return []timelimitImpl{
		{"resilience", func() error { return expect(ours.Do(ctx, tlOp)) }},
		{"context", func() error {
			actx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			err := tlOp(actx)
			cancel()
			return expect(err)
		}},
	}
}

func BenchmarkTimelimit(b *testing.B) {
	for sc, impls := range map[string][]timelimitImpl{"in-time": timelimitInTime(), "expired": timelimitExpired()} {
		for _, impl := range impls {
			b.Run(sc+"/"+impl.name, func(b *testing.B) {
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

func BenchmarkTimelimitParallel(b *testing.B) {
	for _, impl := range timelimitInTime() {
		b.Run("in-time/"+impl.name, func(b *testing.B) {
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

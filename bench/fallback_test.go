package bench

import (
	"context"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	fsfallback "github.com/failsafe-go/failsafe-go/fallback"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/fallback"
)

// The fallback benchmarks run a call under a fallback to a static value,
// against failsafe-go's fallback (NewWithResult) in its executor:
//
//   - success: the call succeeds, the fallback is not used, and nobody
//     asks for a value: our Policy.Do against failsafe-go's Run.
//   - success-typed: the same, returning the call's value: our
//     resilience.Do[string] against failsafe-go's Get. resilience.Do costs
//     two allocations of its own (the call's state and op bound to it),
//     with or without a fallback; the fallback adds none.
//   - used: the call fails and the caller gets the static value instead:
//     resilience.Do[string] against Get.
//
// Both sides answer every error. failsafe-go runs without a context (its
// cheapest path); ours gets one, as every Policy does.

type fallbackImpl struct {
	name string
	run  func() error
}

const fbValue = "fallback"

func fallbackScenarios() map[string][]fallbackImpl {
	ctx := context.Background()
	ours := fallback.New(fallback.Value(fbValue), fallback.Config{})
	fsAny := failsafe.With[any](fsfallback.NewWithResult[any](fbValue))
	fsString := failsafe.With[string](fsfallback.NewWithResult(fbValue))

	okString := func(context.Context) (string, error) { return "ok", nil }
	okStringPlain := func() (string, error) { return "ok", nil }
	failing := func(context.Context) (string, error) { return "", errBench }
	failingPlain := func() (string, error) { return "", errBench }
	expect := func(want string) func(string, error) error {
		return func(got string, err error) error {
			if err != nil {
				return err
			}
			if got != want {
				return benchError("bench: fallback returned " + got + ", want " + want)
			}
			return nil
		}
	}
	return map[string][]fallbackImpl{
		"success": {
			{"resilience", func() error { return ours.Do(ctx, okOp) }},
			{"failsafe-go", func() error { return fsAny.Run(okErr) }},
		},
		"success-typed": {
			{"resilience", func() error { return expect("ok")(resilience.Do(ctx, ours, okString)) }},
			{"failsafe-go", func() error { return expect("ok")(fsString.Get(okStringPlain)) }},
		},
		"used": {
			{"resilience", func() error { return expect(fbValue)(resilience.Do(ctx, ours, failing)) }},
			{"failsafe-go", func() error { return expect(fbValue)(fsString.Get(failingPlain)) }},
		},
	}
}

var fallbackOrder = []string{"success", "success-typed", "used"}

func BenchmarkFallback(b *testing.B) {
	sc := fallbackScenarios()
	for _, name := range fallbackOrder {
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

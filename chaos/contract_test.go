package chaos_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of resilience.Policy, checked by the kit on injectors that
// let op run: with no fault, with a latency (which a cancel cuts short),
// with a fault that never fires, and one recording its calls.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]func() resilience.Policy{
		"no fault": func() resilience.Policy { return chaos.Policy() },
		"latency":  func() resilience.Policy { return chaos.Policy(chaos.Fault{Delay: chaos.Fixed(time.Second)}) },
		"random latency": func() resilience.Policy {
			return chaos.Policy(chaos.Fault{Delay: chaos.Uniform(0, time.Second, 1)})
		},
		"fault that never fires": func() resilience.Policy {
			return chaos.Policy(chaos.Fault{When: chaos.Rate(0, 1), Action: chaos.Error(errors.New("injected"))})
		},
		"recorded": func() resilience.Policy {
			return chaos.New(chaos.Config{Recorder: &chaos.Recorder{}}, chaos.Fault{Delay: chaos.Fixed(0)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, p, resiliencetest.Config{})
		})
	}
}

// Your own policy, checked against the contract of resilience.Policy.
func TestGuideContractKit(t *testing.T) {
	t.Parallel()
	var failures atomic.Int64
	counting := func() resilience.Policy { // a fresh policy for every check
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			err := op(ctx)
			if err != nil {
				failures.Add(1)
			}
			return err
		})
	}
	resiliencetest.Run(t, counting, resiliencetest.Config{})
}

// An injector whose fault ends every call never calls op: the checks that
// need op to run are skipped, each with its reason; the hammer still runs.
func TestContractKitFailingInjector(t *testing.T) {
	t.Parallel()
	never := "the fault ends every call before op"
	resiliencetest.Run(t, func() resilience.Policy {
		return chaos.Policy(chaos.Fault{Action: chaos.Error(errors.New("injected"))})
	}, resiliencetest.Config{Skip: map[resiliencetest.Check]string{
		resiliencetest.CheckSequential: never, resiliencetest.CheckWaitsForOp: never,
		resiliencetest.CheckContext: never, resiliencetest.CheckCancel: never,
		resiliencetest.CheckErrors: never, resiliencetest.CheckPanic: never,
		resiliencetest.CheckDeferRelease: never,
	}})
}

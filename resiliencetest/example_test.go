package resiliencetest_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// logging is a policy of a user's own: it logs the calls that fail.
func logging(log *slog.Logger) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		if err != nil {
			log.ErrorContext(ctx, "call failed", "err", err)
		}
		return err
	})
}

// Check a policy of your own in its tests: give Run a factory, so that every
// check starts from a fresh policy. (The test below runs exactly this.)
func ExampleRun() {
	_ = func(t *testing.T) {
		resiliencetest.Run(t, func() resilience.Policy {
			return logging(slog.New(slog.DiscardHandler))
		}, resiliencetest.Config{})
	}
}

func TestLoggingPolicyContract(t *testing.T) {
	t.Parallel()
	resiliencetest.Run(t, func() resilience.Policy {
		return logging(slog.New(slog.DiscardHandler))
	}, resiliencetest.Config{})
}

// errMaintenance is what a policy answers while its dependency is down for
// maintenance.
var errMaintenance = errors.New("down for maintenance")

// maintenance refuses every call while down is true.
func maintenance(down bool) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if down {
			return errMaintenance
		}
		return op(ctx)
	})
}

// A check that cannot apply to a policy by design is skipped, with the
// reason: a policy that refuses every call never calls op. Only the hammer,
// which needs no call of op to succeed, is left to run. (The test below runs
// exactly this.)
func ExampleConfig() {
	_ = func(t *testing.T) {
		refuses := "it refuses every call: op never runs"
		resiliencetest.Run(t, func() resilience.Policy { return maintenance(true) }, resiliencetest.Config{
			Skip: map[resiliencetest.Check]string{
				resiliencetest.CheckSequential:   refuses,
				resiliencetest.CheckWaitsForOp:   refuses,
				resiliencetest.CheckContext:      refuses,
				resiliencetest.CheckCancel:       refuses,
				resiliencetest.CheckErrors:       refuses,
				resiliencetest.CheckPanic:        refuses,
				resiliencetest.CheckDeferRelease: refuses,
			},
		})
	}
}

func TestMaintenancePolicyContract(t *testing.T) {
	t.Parallel()
	resiliencetest.Run(t, func() resilience.Policy { return maintenance(false) }, resiliencetest.Config{})
	refuses := "it refuses every call: op never runs"
	resiliencetest.Run(t, func() resilience.Policy { return maintenance(true) }, resiliencetest.Config{
		Skip: map[resiliencetest.Check]string{
			resiliencetest.CheckSequential:   refuses,
			resiliencetest.CheckWaitsForOp:   refuses,
			resiliencetest.CheckContext:      refuses,
			resiliencetest.CheckCancel:       refuses,
			resiliencetest.CheckErrors:       refuses,
			resiliencetest.CheckPanic:        refuses,
			resiliencetest.CheckDeferRelease: refuses,
		},
	})
}

package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of resilience.Policy, checked by the kit on breakers of
// every trip rule, a breaker with a health check, and a Group.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]breaker.Config{
		"defaults":    {},
		"consecutive": {ConsecutiveFailures: 2, OpenDuration: time.Second},
		"count":       {WindowCalls: 10, MinCalls: 4, OpenDuration: time.Second},
		"time":        {WindowDuration: time.Minute, MinCalls: 4, OpenDuration: time.Second},
		"slow":        {WindowCalls: 10, MinCalls: 4, SlowCall: time.Millisecond, OpenDuration: time.Second},
		"health check": {ConsecutiveFailures: 2, OpenDuration: time.Second,
			HealthCheck: func(context.Context) error { return nil }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, func() resilience.Policy { return breaker.New(cfg) }, resiliencetest.Config{})
		})
	}
	// One failure opens it: the call after a panic (a failure) is
	// rejected, as it should be, so the panic check does not apply.
	t.Run("opens on one failure", func(t *testing.T) {
		t.Parallel()
		resiliencetest.Run(t, func() resilience.Policy {
			return breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second})
		}, resiliencetest.Config{Skip: map[resiliencetest.Check]string{
			resiliencetest.CheckPanic: "a panic is a failure, and one failure opens the breaker: the next call is rejected by design",
		}})
	})
	t.Run("Group", func(t *testing.T) {
		t.Parallel()
		resiliencetest.Run(t, func() resilience.Policy {
			return breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 2}, MaxKeys: 4})
		}, resiliencetest.Config{Context: func(ctx context.Context) context.Context {
			return resilience.WithKey(ctx, "dependency")
		}})
	})
}

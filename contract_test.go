package resilience_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of Policy, checked by the kit on the policies of this
// package: a PolicyFunc, the empty Chain, and chains of several layers
// (whose pooled frames rely on rule 1).
func TestContract(t *testing.T) {
	t.Parallel()
	passthrough := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(ctx)
	})
	perAttempt := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		err := op(actx)
		if !resilience.DeferRelease(ctx, cancel) {
			cancel()
		}
		return err
	})
	for name, p := range map[string]func() resilience.Policy{
		"PolicyFunc":  func() resilience.Policy { return passthrough },
		"empty Chain": func() resilience.Policy { return resilience.Chain() },
		"Chain": func() resilience.Policy {
			return resilience.Chain(retryN(3, time.Second), passthrough, perAttempt)
		},
		"nested Chain": func() resilience.Policy {
			return resilience.Chain(perAttempt, resilience.Chain(retryN(2, time.Second), retryN(2, 0)), nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, p, resiliencetest.Config{})
		})
	}
}

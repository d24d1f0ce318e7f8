package sqltest

import (
	"testing"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/idempotencytest"
)

// TestConformance runs the suite of idempotencytest on every target, its
// crash test in a child process killed with SIGKILL.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tg, idempotency.SQLConfig{})
			idempotencytest.Run(t, idempotencytest.Suite{
				New:             func(testing.TB) idempotency.Store { return f.store },
				Child:           openChild,
				ChildEnv:        f.childEnv(),
				MaxOutcomeBytes: idempotency.DefaultMaxOutcomeBytes,
			})
		})
	}
}

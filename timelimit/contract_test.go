package timelimit_test

import (
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resiliencetest"
	"github.com/resiliencekit/resilience/timelimit"
)

// The contract of resilience.Policy, checked by the kit on time limits
// longer and shorter than the kit's calls (whose ops wait up to an hour, or
// sleep 10ms ignoring their context), with and without grace. Rule 5 is
// the one a time limit is most concerned by: its per-attempt context is
// handed to resilience.DeferRelease.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]func() resilience.Policy{
		"long":     func() resilience.Policy { return timelimit.New(time.Minute, timelimit.Config{}) },
		"short":    func() resilience.Policy { return timelimit.New(time.Millisecond, timelimit.Config{}) },
		"no grace": func() resilience.Policy { return timelimit.New(time.Second, timelimit.Config{Grace: resilience.None}) },
		"in a Chain": func() resilience.Policy {
			return resilience.Chain(timelimit.New(time.Hour, timelimit.Config{}), timelimit.New(time.Minute, timelimit.Config{}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, p, resiliencetest.Config{})
		})
	}
}

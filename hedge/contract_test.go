package hedge_test

import (
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/resiliencetest"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// The contract of resilience.Policy, checked by the kit with no check
// skipped: a Hedge is a resilience.ConcurrentPolicy, for which the kit
// holds nothing of "sequentially" and accepts the error of any attempt. The
// configurations hedge at once (a delay shorter than every op of the kit),
// never (the adaptive delay starts at MaxDelay, longer than the kit's
// short ops), many times, under a budget, and in Chains with a time limit
// per attempt inside and a retry outside.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]func() resilience.Policy{
		"adaptive": func() resilience.Policy { return hedge.New(hedge.Config{}) },
		"short":    func() resilience.Policy { return hedge.New(hedge.Config{Delay: time.Microsecond}) },
		"3 hedges": func() resilience.Policy { return hedge.New(hedge.Config{Delay: time.Millisecond, MaxHedges: 3}) },
		"no hedge": func() resilience.Policy { return hedge.New(hedge.Config{MaxHedges: resilience.None}) },
		"budget": func() resilience.Policy {
			return hedge.New(hedge.Config{Delay: time.Millisecond, Budget: retry.NewTokenBudget(10, 0.5)})
		},
		"ratio": func() resilience.Policy {
			return hedge.New(hedge.Config{Delay: time.Millisecond, Budget: retry.NewRatioBudget(retry.RatioConfig{})})
		},
		"tiny max": func() resilience.Policy {
			return hedge.New(hedge.Config{MinDelay: time.Microsecond, MaxDelay: time.Microsecond})
		},
		"in a Chain": func() resilience.Policy {
			return resilience.Chain(hedge.New(hedge.Config{Delay: time.Millisecond, MaxHedges: 2}),
				timelimit.New(time.Minute, timelimit.Config{}))
		},
		"retry outside": func() resilience.Policy {
			b := retry.NewRatioBudget(retry.RatioConfig{})
			return resilience.Chain(retry.New(retry.Config{Budget: b}),
				hedge.New(hedge.Config{Delay: time.Millisecond, Budget: b, BudgetCountedByRetry: true}),
				timelimit.New(time.Minute, timelimit.Config{}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, p, resiliencetest.Config{})
		})
	}
}

package bulkhead_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of resilience.Policy, checked by the kit on bulkheads that
// refuse at once, that queue (FIFO and LIFO), that adapt their limit, and
// on a Group. A bulkhead of one permit is where a permit leaked by a panic
// shows at once.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]func() resilience.Policy{
		"one permit": func() resilience.Policy { return bulkhead.New(1, bulkhead.Config{}) },
		"queue": func() resilience.Policy {
			return bulkhead.New(1, bulkhead.Config{MaxWait: resilience.Forever})
		},
		"bounded wait": func() resilience.Policy {
			return bulkhead.New(2, bulkhead.Config{MaxWait: time.Second, MaxQueue: 4})
		},
		"LIFO": func() resilience.Policy {
			return bulkhead.New(1, bulkhead.Config{MaxWait: resilience.Forever, Order: bulkhead.LIFO})
		},
		"AIMD": func() resilience.Policy {
			return bulkhead.New(2, bulkhead.Config{Adaptive: bulkhead.AIMD{}, MaxWait: time.Second})
		},
		"Gradient": func() resilience.Policy {
			return bulkhead.New(4, bulkhead.Config{Adaptive: bulkhead.Gradient{}})
		},
		"Group": func() resilience.Policy {
			return bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 4})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, p, resiliencetest.Config{Context: func(ctx context.Context) context.Context {
				return resilience.WithKey(ctx, "dependency")
			}})
		})
	}
}

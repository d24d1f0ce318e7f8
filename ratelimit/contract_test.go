package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of resilience.Policy, checked by the kit on limiters that
// refuse at once and that wait for a token, on a keyed limiter and on the
// client-side throttle. The
// bursts are larger than the calls of the panic check: a call that
// panicked has spent its token, as it should (it reached the dependency),
// so a limiter of one token would refuse the call after it by design.
func TestContractKit(t *testing.T) {
	t.Parallel()
	byKey := resiliencetest.Config{Context: func(ctx context.Context) context.Context {
		return resilience.WithKey(ctx, "client")
	}}
	for name, c := range map[string]struct {
		p   func() resilience.Policy
		cfg resiliencetest.Config
	}{
		"Limiter": {p: func() resilience.Policy { return ratelimit.New(1000, 100, ratelimit.Config{}) }},
		"Limiter that waits": {p: func() resilience.Policy {
			return ratelimit.New(1, 1, ratelimit.Config{MaxWait: resilience.Forever})
		}},
		"Limiter that waits a while": {p: func() resilience.Policy {
			return ratelimit.New(10, 2, ratelimit.Config{MaxWait: time.Second, MaxQueue: 4})
		}},
		"Group": {p: func() resilience.Policy {
			return ratelimit.NewGroup(1000, 100, ratelimit.GroupConfig{MaxKeys: 4})
		}, cfg: byKey},
		// A panic is a request the backend did not accept (rule 4: it is
		// recorded as a failure); in the empty window of a new throttle a
		// few of them make it drop calls, as it should.
		"Throttle": {p: func() resilience.Policy { return ratelimit.NewThrottle(ratelimit.ThrottleConfig{}) },
			cfg: resiliencetest.Config{Skip: map[resiliencetest.Check]string{
				resiliencetest.CheckPanic: "a panic counts as a request not accepted: a new throttle then drops calls by design",
			}}},
		// With traffic in its window, a few panics change nothing.
		"Throttle with traffic": {p: func() resilience.Policy {
			th := ratelimit.NewThrottle(ratelimit.ThrottleConfig{})
			for range 100 {
				_ = th.Do(context.Background(), func(context.Context) error { return nil })
			}
			return th
		}},
		"Throttle, eager": {p: func() resilience.Policy {
			return ratelimit.NewThrottle(ratelimit.ThrottleConfig{K: 1.1, Window: time.Second, Buckets: 4})
		}, cfg: resiliencetest.Config{Skip: map[resiliencetest.Check]string{
			resiliencetest.CheckPanic: "a panic counts as a request not accepted: a new throttle then drops calls by design",
		}}},
		"Group that waits": {p: func() resilience.Policy {
			return ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: resilience.Forever}})
		}, cfg: byKey},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, c.p, c.cfg)
		})
	}
}

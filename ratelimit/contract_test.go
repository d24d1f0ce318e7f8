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
// refuse at once and that wait for a token, and on a keyed limiter. The
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
		"Keyed": {p: func() resilience.Policy {
			return ratelimit.NewKeyed(1000, 100, ratelimit.KeyedConfig{MaxKeys: 4})
		}, cfg: byKey},
		"Keyed that waits": {p: func() resilience.Policy {
			return ratelimit.NewKeyed(1, 1, ratelimit.KeyedConfig{Config: ratelimit.Config{MaxWait: resilience.Forever}})
		}, cfg: byKey},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, c.p, c.cfg)
		})
	}
}

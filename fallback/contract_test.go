package fallback_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/resiliencetest"
)

// The contract of resilience.Policy, checked by the kit. The kit calls
// plain Policy.Do, where a Fallback of New or NewHTTP has no call of
// resilience.Do to answer into: its answer to every failure is an error
// that wraps op's (ErrNoResult), so every rule holds as written. A
// Fallback of NewFunc answers under plain Policy.Do: one whose alt fails
// keeps rule 3 too; one whose alt succeeds breaks rule 3 on purpose — a
// failure it answers is not returned, which is the point of a fallback —
// and skips that check alone. Under Transport (the DeferRelease check)
// NewHTTP's Fallback wraps the good response's body to remember it: the
// body stays readable after RoundTrip returned.
func TestContractKit(t *testing.T) {
	t.Parallel()
	altFails := func(ctx context.Context, err error) error { return fmt.Errorf("alt failed too: %w", err) }
	altAnswers := func(context.Context, error) error { return nil }
	for name, c := range map[string]struct {
		p    func() resilience.Policy
		skip map[resiliencetest.Check]string
	}{
		"value":       {p: func() resilience.Policy { return fallback.New(fallback.Value(1), fallback.Config{}) }},
		"stale":       {p: func() resilience.Policy { return fallback.New[int](nil, fallback.Config{Stale: time.Minute}) }},
		"stale + sub": {p: func() resilience.Policy { return fallback.New(fallback.Value(1), fallback.Config{Stale: time.Minute}) }},
		"func, alt fails": {p: func() resilience.Policy {
			return fallback.NewFunc(altFails, fallback.Config{})
		}},
		"func, alt answers": {
			p: func() resilience.Policy { return fallback.NewFunc(altAnswers, fallback.Config{}) },
			skip: map[resiliencetest.Check]string{
				resiliencetest.CheckErrors: "a fallback answers op's failure: that it is not returned is the point (rule 3 does not hold, by design)",
			},
		},
		"http dummy": {p: func() resilience.Policy {
			return fallback.NewHTTP(fallback.StaticResponse(200, nil, "dummy"), fallback.HTTPConfig{})
		}},
		"http stale": {p: func() resilience.Policy { return fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Minute}) }},
		"in a Chain with a breaker": {p: func() resilience.Policy {
			return resilience.Chain(fallback.New(fallback.Value(1), fallback.Config{Stale: time.Minute}), breaker.New(breaker.Config{}))
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, c.p, resiliencetest.Config{Skip: c.skip})
		})
	}
}

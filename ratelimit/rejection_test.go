package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

// TestRejectionsAreLocal: every refusal of this package is a local
// rejection (the call never reached the dependency), whatever its reason;
// the downstream's own 429 is not.
func TestRejectionsAreLocal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rateErr := func() error {
			l := ratelimit.New(1, 1, ratelimit.Config{})
			require.True(t, l.Allow())
			return l.Do(ctx, nop)
		}
		paused := func() error {
			l := ratelimit.New(1, 1, ratelimit.Config{})
			l.Pause(time.Second)
			return l.Do(ctx, nop)
		}
		costly := func() error { return ratelimit.New(1, 1, ratelimit.Config{}).WaitN(ctx, 2) }
		keyed := func() error {
			k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{})
			require.True(t, k.Allow("k"))
			return k.Wait(ctx, "k")
		}
		throttled := func() error {
			a := ratelimit.NewThrottle(ratelimit.ThrottleConfig{K: 1})
			overloaded := &resilience.StatusError{Code: 503}
			for {
				err := a.Do(ctx, func(context.Context) error { return overloaded })
				if !errors.Is(err, overloaded) {
					return err
				}
			}
		}
		for name, f := range map[string]func() error{
			"rate": rateErr, "paused": paused, "too costly": costly, "keyed": keyed, "throttled": throttled,
			"unavailable": func() error { return &ratelimit.LimitedError{Reason: ratelimit.ReasonUnavailable} },
		} {
			err := f()
			require.ErrorIs(t, err, ratelimit.ErrLimited, name)
			assert.True(t, resilience.IsLocalRejection(err), name)
		}
		assert.False(t, resilience.IsLocalRejection(&resilience.StatusError{Code: 429, Wait: time.Second}),
			"the downstream's 429 is its answer")

		// Each refusal is a value of its own: changing one changes no other.
		l := ratelimit.New(1, 1, ratelimit.Config{})
		require.True(t, l.Allow())
		var first, second *ratelimit.LimitedError
		require.ErrorAs(t, l.Do(ctx, nop), &first)
		first.Reason, first.Wait, first.Key = ratelimit.ReasonTooCostly, time.Hour, "changed"
		require.ErrorAs(t, l.Do(ctx, nop), &second)
		assert.NotSame(t, first, second)
		assert.Equal(t, ratelimit.ReasonRate, second.Reason)
		assert.Equal(t, time.Second, second.Wait)
		assert.Empty(t, second.Key)
	})
}

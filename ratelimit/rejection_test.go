package ratelimit_test

import (
	"context"
	"errors"
	"reflect"
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
			"unavailable": func() error { return ratelimit.NewLimitedError("", ratelimit.ReasonUnavailable, 0, nil) },
		} {
			err := f()
			require.ErrorIs(t, err, ratelimit.ErrLimited, name)
			assert.True(t, resilience.IsLocalRejection(err), name)
		}
		assert.False(t, resilience.IsLocalRejection(&resilience.StatusError{Code: 429, Wait: time.Second}),
			"the downstream's 429 is its answer")

	})
}

// A refusal is shared between calls, so it has nothing a caller could
// change: no exported field.
func TestLimitedErrorHasNoExportedFields(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[ratelimit.LimitedError]()
	for i := range typ.NumField() {
		assert.False(t, typ.Field(i).IsExported(), typ.Field(i).Name)
	}
	var zero ratelimit.LimitedError
	assert.Equal(t, ratelimit.ReasonRate, zero.Reason())
	assert.Zero(t, zero.RetryAfter())
	assert.Empty(t, zero.Key())
	assert.NoError(t, zero.Unwrap())
	assert.Equal(t, "ratelimit: limited: rate exceeded", zero.Error())

	cause := errors.New("store down")
	e := ratelimit.NewLimitedError("k", ratelimit.ReasonUnavailable, 0, cause)
	assert.ErrorIs(t, e, cause)
	assert.Equal(t, 503, e.HTTPStatus())
	assert.Equal(t, `ratelimit: limited: limiter unavailable for key "k": store down`, e.Error())
}

// The refusals between two admitted calls share one error, and each
// answers the wait of the call that reads it; an error kept after a call
// was admitted answers for the bucket it was refused by, never for the
// bucket as later calls left it. Every limiter: Limiter, Group, their Take
// (through OnLimited), a pause.
func TestRefusalsShareOneImmutableError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var hooked []*ratelimit.LimitedError
		cfg := ratelimit.Config{OnLimited: func(_ context.Context, e *ratelimit.LimitedError) { hooked = append(hooked, e) }}
		last := func(d ratelimit.Decision) error { // the refusal OnLimited was given
			if d.Allowed {
				return nil
			}
			return hooked[len(hooked)-1]
		}
		l := ratelimit.New(1, 1, cfg)
		k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: cfg})
		for name, refuse := range map[string]func() error{
			"Limiter.Do":   func() error { return l.Do(ctx, nop) },
			"Limiter.Take": func() error { d, _ := l.Take(ctx, "", 1); return last(d) },
			"Group.DoKey":  func() error { return k.DoKey(ctx, "a", nop) },
			"Group.Take":   func() error { d, _ := k.Take(ctx, "a", 1); return last(d) },
		} {
			l.SetQuota(ratelimit.Quota{Rate: 1, Burst: 1}) // a new full bucket
			k = ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: cfg})
			require.NoError(t, refuse(), name) // the token; the next one at t+1s

			first := refuse()
			requireRefused(t, first, ratelimit.ReasonRate, time.Second, name)
			time.Sleep(300 * time.Millisecond)
			second := refuse()
			assert.Same(t, first, second, "%s: nothing admitted, one error", name)
			requireRefused(t, second, ratelimit.ReasonRate, 700*time.Millisecond, name)
			requireRefused(t, first, ratelimit.ReasonRate, 700*time.Millisecond, name)

			time.Sleep(700 * time.Millisecond)
			require.NoError(t, refuse(), name) // the next token, the one after at +1s
			time.Sleep(100 * time.Millisecond)
			third := refuse()
			assert.NotSame(t, first, third, "%s: a call was admitted, a new error", name)
			requireRefused(t, third, ratelimit.ReasonRate, 900*time.Millisecond, name)
			requireRefused(t, first, ratelimit.ReasonRate, 0, name) // its moment passed; not the 900 ms of the new bucket

			time.Sleep(time.Second) // the bucket is full again
		}

		// A pause is a moment of its own, and so is each key.
		l.Pause(2 * time.Second)
		paused := l.Do(ctx, nop)
		requireRefused(t, paused, ratelimit.ReasonPaused, 2*time.Second, "paused")
		require.NoError(t, k.DoKey(ctx, "a", nop))
		require.NoError(t, k.DoKey(ctx, "b", nop))
		a, b := k.DoKey(ctx, "a", nop), k.DoKey(ctx, "b", nop)
		assert.NotSame(t, a, b)
		var le *ratelimit.LimitedError
		require.ErrorAs(t, a, &le)
		assert.Equal(t, "a", le.Key())
		require.ErrorAs(t, b, &le)
		assert.Equal(t, "b", le.Key())
	})
}

// requireRefused checks that err is a refusal for reason whose call could
// be admitted after wait, counted from now.
func requireRefused(t *testing.T, err error, reason ratelimit.Reason, wait time.Duration, msg string) {
	t.Helper()
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le, msg)
	require.Equal(t, reason, le.Reason(), msg)
	require.Equal(t, wait, le.RetryAfter(), msg)
}

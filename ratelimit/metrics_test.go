package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

type ctxKey struct{}

func TestNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "search", ratelimit.New(1, 1, ratelimit.Config{Name: "search"}).Name())
	assert.Equal(t, "", ratelimit.New(1, 1, ratelimit.Config{}).Name())
	assert.Equal(t, "api", ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "api"}}).Name())
	assert.Equal(t, "backend", ratelimit.NewThrottle(ratelimit.ThrottleConfig{Name: "backend"}).Name())
}

func TestLimiterMetrics(t *testing.T) {
	t.Parallel()
	var hookCtx []context.Context
	l := ratelimit.New(1e-9, 2, ratelimit.Config{OnLimited: func(ctx context.Context, _ *ratelimit.LimitedError) {
		hookCtx = append(hookCtx, ctx)
	}})
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	for range 3 {
		_ = l.Do(ctx, func(context.Context) error { return nil })
	}
	_, _ = l.Take(ctx, "", 5)
	l.Pause(time.Hour)
	_ = l.Wait(ctx)
	m := l.Metrics()
	assert.Equal(t, refused(ratelimit.ReasonRate, ratelimit.ReasonTooCostly, ratelimit.ReasonPaused), m.Refused)
	assert.InDelta(t, 0, m.Tokens, 0.01)
	assert.Greater(t, m.Paused, 59*time.Minute)
	assert.Zero(t, m.Waiting)
	require.Len(t, hookCtx, 3)
	for _, c := range hookCtx {
		assert.Equal(t, "caller", c.Value(ctxKey{}), "OnLimited gets the caller's context")
	}
}

func TestGroupTotalsCount(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewGroup(1e-9, 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: time.Second}})
	ctx := resilience.WithKey(context.Background(), "a")
	op := func(context.Context) error { return nil }
	require.NoError(t, k.Do(ctx, op))
	require.NoError(t, k.DoKey(ctx, "b", op))
	assert.True(t, k.Allow("c"))
	assert.Error(t, k.Do(ctx, op)) // empty, and the wait is far too long
	_, _ = k.Take(ctx, "a", 9)
	k.Pause("d", time.Hour)
	m := k.Totals()
	assert.Equal(t, uint64(3), m.Admitted)
	assert.Equal(t, refused(ratelimit.ReasonRate, ratelimit.ReasonTooCostly), m.Refused)
	assert.Equal(t, 4, m.Keys)
	assert.Equal(t, 1, m.Pauses)
	assert.Zero(t, m.Waiting)
}

func TestThrottleMetrics(t *testing.T) {
	t.Parallel()
	th := ratelimit.NewThrottle(ratelimit.ThrottleConfig{K: 1.1})
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	rejected := &resilience.StatusError{Code: 503}
	for range 20 {
		_ = th.Do(ctx, func(context.Context) error { return rejected })
	}
	m := th.Metrics()
	assert.Equal(t, uint64(20), m.Admitted+m.Refused[ratelimit.ReasonThrottled])
	assert.Positive(t, m.Refused[ratelimit.ReasonThrottled], "the backend rejects everything")
	assert.Equal(t, 20, m.Requests)
	assert.Zero(t, m.Accepts)
	assert.Positive(t, m.Probability)
	var err error
	for range 50 {
		if err = th.Do(ctx, func(context.Context) error { return nil }); err != nil {
			break
		}
	}
	assert.True(t, errors.Is(err, ratelimit.ErrThrottled))
}

func TestMetricsOfUnlimited(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(rate.Inf, 1, ratelimit.Config{})
	_ = l.Do(context.Background(), func(context.Context) error { return nil })
	assert.Equal(t, ratelimit.Metrics{Tokens: 1}, l.Metrics())
}

// refused returns the Refused counts of one refusal for each reason.
func refused(reasons ...ratelimit.Reason) (r [ratelimit.ReasonUnavailable + 1]uint64) {
	for _, reason := range reasons {
		r[reason]++
	}
	return r
}

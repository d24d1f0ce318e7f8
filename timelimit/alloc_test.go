//go:build !race

package timelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

// The usual timeout (op returns ctx.Err()) allocates no error: the error is
// made once per TimeLimit (it is immutable). A timeout whose op returned an
// error of its own wraps it, in an error made for the call.
func TestTimeoutAllocatesNoError(t *testing.T) {
	ctx := context.Background()
	l := timelimit.New(time.Nanosecond, timelimit.Config{})
	boom := errors.New("boom")
	usual := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	own := func(ctx context.Context) error { <-ctx.Done(); return boom }
	require.ErrorIs(t, l.Do(ctx, usual), timelimit.ErrTimeout)
	require.ErrorIs(t, l.Do(ctx, own), boom)
	a := testing.AllocsPerRun(200, func() { _ = l.Do(ctx, usual) })
	b := testing.AllocsPerRun(200, func() { _ = l.Do(ctx, own) })
	assert.Equal(t, a+1, b, "usual %v, own error %v", a, b)
}

// A call in time allocates its context and nothing else (outside a
// synctest bubble, with a limit of a millisecond or more):
// context.WithTimeout allocates four times and arms a timer per call.
func TestInTimeAllocatesOnce(t *testing.T) {
	ctx := context.Background()
	l := timelimit.New(time.Second, timelimit.Config{})
	op := func(ctx context.Context) error { return ctx.Err() }
	require.NoError(t, l.Do(ctx, op))
	assert.Equal(t, 1.0, testing.AllocsPerRun(1000, func() { _ = l.Do(ctx, op) }))
}

// An Observer adds nothing to a call in time (it is not even looked at),
// and no allocation to a timeout: the event is passed by value. Both kinds
// of context count: context.WithTimeoutCause's (a limit under a
// millisecond) and the queued one.
func TestObserverAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	noop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	usual := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond} {
		plain := timelimit.New(d, timelimit.Config{})
		observed := timelimit.New(d, timelimit.Config{Observer: noop})
		a := testing.AllocsPerRun(20, func() { _ = plain.Do(ctx, usual) })
		b := testing.AllocsPerRun(20, func() { _ = observed.Do(ctx, usual) })
		assert.Equal(t, a, b, "a timeout after %v: %v allocations without an Observer, %v with one", d, a, b)
	}
	l := timelimit.New(time.Second, timelimit.Config{Observer: noop})
	op := func(ctx context.Context) error { return ctx.Err() }
	assert.Equal(t, 1.0, testing.AllocsPerRun(1000, func() { _ = l.Do(ctx, op) }))
}

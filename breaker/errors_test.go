package breaker_test

import (
	"context"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

// A rejection is shared between calls, so it has nothing a caller could
// change: no exported field.
func TestOpenErrorHasNoExportedFields(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[breaker.OpenError]()
	for i := range typ.NumField() {
		assert.False(t, typ.Field(i).IsExported(), typ.Field(i).Name)
	}
}

// The rejections of one open period share one error, and each answers the
// wait of the call that reads it; an error kept after its period answers
// for its own period, never for a later one.
func TestOpenErrorOfItsOwnPeriod(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1, OpenDuration: 10 * time.Second, OpenMultiplier: 2, MaxOpenDuration: time.Minute,
		})
		_ = call(b, fail) // open until t=10s
		time.Sleep(4 * time.Second)
		first := call(b, ok)
		requireOpen(t, first, breaker.Open, 6*time.Second)
		time.Sleep(3 * time.Second)
		second := call(b, ok)
		assert.Same(t, first, second, "one error per open period")
		requireOpen(t, second, breaker.Open, 3*time.Second)
		requireOpen(t, first, breaker.Open, 3*time.Second)

		// t=10s: the probe fails and the breaker opens again, for 20 s.
		time.Sleep(3 * time.Second)
		_ = call(b, fail)
		time.Sleep(time.Second)
		third := call(b, ok)
		assert.NotSame(t, first, third, "a new period, a new error")
		requireOpen(t, third, breaker.Open, 19*time.Second)
		requireOpen(t, first, breaker.Open, 0) // its period is over: no wait, not the new one's 19 s
		assert.Equal(t, "breaker: open", first.Error())

		// Reset, then open again for 10 s: the kept errors still answer for
		// the periods that rejected their calls.
		b.Reset()
		_ = call(b, fail)
		time.Sleep(time.Second)
		fourth := call(b, ok)
		requireOpen(t, fourth, breaker.Open, 9*time.Second)
		requireOpen(t, third, breaker.Open, 18*time.Second)
		requireOpen(t, first, breaker.Open, 0)

		// Forced open and half-open rejections know no wait.
		b.ForceOpen()
		requireOpen(t, call(b, ok), breaker.ForcedOpen, 0)
		requireOpen(t, fourth, breaker.Open, 9*time.Second)
	})
}

// No rejection allocates: open, half-open with its probe slots taken,
// forced open, in a Group or not. (The race detector does not change
// these counts.)
func TestRejectionsAllocateNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	for oname, o := range observers() {
		t.Run(oname, func(t *testing.T) { rejectionsAllocateNothing(t, o) })
	}
}

func rejectionsAllocateNothing(t *testing.T, o resilience.Observer) {
	ctx := context.Background()
	open := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour, Observer: o})
	_ = call(open, fail)
	forced := breaker.New(breaker.Config{Observer: o})
	forced.ForceOpen()
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour, Observer: o}})
	keyed := resilience.WithKey(ctx, "k")
	_ = g.Do(keyed, fail)
	health := breaker.New(breaker.Config{
		ConsecutiveFailures: 1, OpenDuration: time.Nanosecond, Observer: o,
		HealthCheck: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
	})
	t.Cleanup(func() { health.Close() })
	_ = call(health, fail)
	time.Sleep(time.Millisecond) // the health check, not the calls, probes now
	for name, do := range map[string]func() error{
		"open":                       func() error { return open.Do(ctx, ok) },
		"forced open":                func() error { return forced.Do(ctx, ok) },
		"group, open":                func() error { return g.Do(keyed, ok) },
		"open, health check probing": func() error { return health.Do(ctx, ok) },
	} {
		require.ErrorIs(t, do(), breaker.ErrOpen, name)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = do() }), name)
	}

	// Half-open with the only probe slot taken.
	b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Nanosecond, MaxProbes: 1, Observer: o})
	_ = call(b, fail)
	time.Sleep(time.Millisecond)
	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = call(b, func(context.Context) error { close(started); <-release; return nil })
	}()
	<-started
	requireOpen(t, call(b, ok), breaker.HalfOpen, 0)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = call(b, ok) }), "half-open, probe slot taken")
	close(release)
	<-done
}

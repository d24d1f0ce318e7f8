package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/ratelimit"
)

// rejection is the EventReject of the limiter name, of key key.
func rejection(name, key, reason string, waited time.Duration, err error) resilience.Event {
	return resilience.Event{
		Kind: resilience.EventReject, Policy: "ratelimit", Name: name, Key: key,
		Reason: reason, Duration: waited, Err: err,
	}
}

// waited is the EventWait of the limiter name, of key key.
func waited(name, key string, d time.Duration) resilience.Event {
	return resilience.Event{Kind: resilience.EventWait, Policy: "ratelimit", Name: name, Key: key, Duration: d}
}

type eventCtxKey struct{}

// A Limiter reports its refusals, with the caller's context and the very
// error returned, and the calls that waited for their tokens.
func TestEventsLimiter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		ctx := context.WithValue(context.Background(), eventCtxKey{}, "call")
		l := ratelimit.New(1, 1, ratelimit.Config{Name: "api", Observer: rec})
		require.NoError(t, l.Do(ctx, nop))
		assert.Empty(t, rec.TakeEvents(), "an admitted call is no event")
		err := l.Do(ctx, nop)
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{rejection("api", "", "limited", 0, err)}, evs)
		assert.Same(t, err, evs[0].Err)
		assert.Equal(t, "call", ctxs[0].Value(eventCtxKey{}))
		assert.False(t, l.Allow())
		assert.Empty(t, rec.TakeEvents(), "Allow reports nothing")
		_, _ = l.Take(ctx, "", 1)
		evs = rec.TakeEvents()
		require.Len(t, evs, 1)
		assert.Equal(t, "limited", evs[0].Reason, "Take reports its refusals")

		w := ratelimit.New(1, 1, ratelimit.Config{Name: "paced", MaxWait: 2 * time.Second, MaxQueue: 1, Observer: rec})
		require.NoError(t, w.Do(ctx, nop))
		time.Sleep(200 * time.Millisecond)
		var wg sync.WaitGroup
		wg.Go(func() { require.NoError(t, w.Do(ctx, nop)) })
		synctest.Wait()
		full := w.Wait(ctx)
		require.ErrorIs(t, full, ratelimit.ErrLimited)
		wg.Wait()
		evs, ctxs = rec.Take()
		require.Equal(t, []resilience.Event{
			rejection("paced", "", "queue_full", 0, full),
			waited("paced", "", 800*time.Millisecond),
		}, evs)
		assert.Equal(t, "call", ctxs[1].Value(eventCtxKey{}), "the waiter's context")

		costly := ratelimit.New(1, 1, ratelimit.Config{Cost: func(context.Context) int { return 2 }, Observer: rec})
		tooCostly := costly.Do(ctx, nop)
		require.ErrorIs(t, tooCostly, ratelimit.ErrLimited)
		require.Equal(t, []resilience.Event{rejection("", "", "too_costly", 0, tooCostly)}, rec.TakeEvents())

	})
}

// A paused limiter refuses with Reason "paused"; a call that waits out the
// pause reports the wait, and one still refused after it reports the time
// it waited before the refusal.
func TestEventsLimiterPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		ctx := context.Background()
		l := ratelimit.New(1, 1, ratelimit.Config{Observer: rec})
		l.Pause(2 * time.Second)
		paused := l.Do(ctx, nop)
		require.ErrorIs(t, paused, ratelimit.ErrLimited)
		require.Equal(t, []resilience.Event{rejection("", "", "paused", 0, paused)}, rec.TakeEvents())

		w := ratelimit.New(1, 1, ratelimit.Config{MaxWait: 5 * time.Second, Observer: rec})
		w.Pause(2 * time.Second)
		require.NoError(t, w.Do(ctx, nop))
		require.Equal(t, []resilience.Event{waited("", "", 2*time.Second)}, rec.TakeEvents())

		const slow = 1e-3 // a token every 1000 s
		s := ratelimit.New(slow, 1, ratelimit.Config{MaxWait: 5 * time.Second, Observer: rec})
		require.True(t, s.Allow())
		s.Pause(2 * time.Second)
		refused := s.Do(ctx, nop)
		require.ErrorIs(t, refused, ratelimit.ErrLimited)
		require.Equal(t, []resilience.Event{rejection("", "", "limited", 2*time.Second, refused)}, rec.TakeEvents(),
			"waited out the pause, then the bucket was still short")
	})
}

// A Group's events carry the key as held; the error keeps the caller's.
func TestEventsGroupKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		ctx := context.Background()
		g := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "clients", MaxWait: 2 * time.Second, Observer: rec}})
		a := resilience.WithKey(ctx, "10.0.0.1")
		require.NoError(t, g.Do(a, nop))
		require.NoError(t, g.Do(a, nop))
		require.Equal(t, []resilience.Event{waited("clients", "10.0.0.1", time.Second)}, rec.TakeEvents())

		f := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "clients", Observer: rec}})
		require.NoError(t, f.Do(a, nop))
		refused := f.Do(a, nop)
		require.ErrorIs(t, refused, ratelimit.ErrLimited)
		_, _ = f.Take(ctx, "10.0.0.1", 1)
		evs := rec.TakeEvents()
		require.Len(t, evs, 2)
		assert.Equal(t, rejection("clients", "10.0.0.1", "limited", 0, refused), evs[0])
		assert.Equal(t, "10.0.0.1", evs[1].Key, "Take")

		long := strings.Repeat("x", 200)
		require.True(t, f.Allow(long))
		tooMany := f.Wait(ctx, long)
		require.ErrorIs(t, tooMany, ratelimit.ErrLimited)
		evs = rec.TakeEvents()
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0].Key, "sha256:"), evs[0].Key)
		var held []string
		f.Range(func(k string, _ ratelimit.Metrics) bool { held = append(held, k); return true })
		assert.Contains(t, held, evs[0].Key, "the key as the group holds it")
		var le *ratelimit.LimitedError
		require.ErrorAs(t, evs[0].Err, &le)
		assert.Equal(t, long, le.Key(), "the error carries the caller's key")

		inf := ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: time.Minute, Observer: rec}})
		inf.Pause("h", 3*time.Second)
		require.NoError(t, inf.Do(resilience.WithKey(ctx, "h"), nop))
		require.Equal(t, []resilience.Event{waited("", "h", 3*time.Second)}, rec.TakeEvents(), "a rate.Inf key waits out its pause")
	})
}

// In dry-run, the calls Do would have refused are reported, and run.
func TestEventsDryRun(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	l := ratelimit.New(1e-3, 1, ratelimit.Config{DryRun: true, Observer: rec})
	require.NoError(t, l.Do(context.Background(), nop))
	ran := false
	require.NoError(t, l.Do(context.Background(), func(context.Context) error { ran = true; return nil }))
	assert.True(t, ran)
	evs := rec.TakeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, resilience.EventReject, evs[0].Kind)
	assert.Equal(t, "limited", evs[0].Reason)
	require.ErrorIs(t, evs[0].Err, ratelimit.ErrLimited)
}

// A Throttle reports each call it drops with Reason "throttled".
func TestEventsThrottle(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	th := ratelimit.NewThrottle(ratelimit.ThrottleConfig{Name: "backend", K: 1, Observer: rec})
	ctx := context.WithValue(resilience.WithKey(context.Background(), "k"), eventCtxKey{}, "call")
	overloaded := &resilience.StatusError{Code: 503}
	var drops []error
	for range 200 {
		if err := th.Do(ctx, func(context.Context) error { return overloaded }); errors.Is(err, ratelimit.ErrThrottled) {
			drops = append(drops, err)
		}
	}
	require.NotEmpty(t, drops)
	evs, ctxs := rec.Take()
	require.Len(t, evs, len(drops))
	for i, e := range evs {
		assert.Equal(t, rejection("backend", "", "throttled", 0, drops[i]), e)
		assert.Equal(t, "call", ctxs[i].Value(eventCtxKey{}))
	}
}

// An Observer may call the limiters' methods: no lock is held while it
// runs, and the refusal it is told of is counted already.
func TestEventsObserverCallsBack(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	var l *ratelimit.Limiter
	var g *ratelimit.Group
	var th *ratelimit.Throttle
	var refused []uint64
	rec.On = func(_ context.Context, e resilience.Event) {
		switch e.Name {
		case "limiter":
			m := l.Metrics()
			_, _, _ = l.Tokens(), l.Waiting(), l.Paused()
			refused = append(refused, m.Refused[ratelimit.ReasonRate])
		case "group":
			_, _ = g.Metrics(e.Key)
			_ = g.Len()
			g.Range(func(string, ratelimit.Metrics) bool { return true })
			refused = append(refused, g.Totals().Refused[ratelimit.ReasonRate])
		case "throttle":
			_ = th.Probability()
			_, _ = th.Counts()
			refused = append(refused, th.Metrics().Refused[ratelimit.ReasonThrottled])
		}
	}
	l = ratelimit.New(1e-3, 1, ratelimit.Config{Name: "limiter", Observer: rec})
	g = ratelimit.NewGroup(1e-3, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "group", Observer: rec}})
	th = ratelimit.NewThrottle(ratelimit.ThrottleConfig{Name: "throttle", K: 1, Observer: rec})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := resilience.WithKey(context.Background(), "k")
		for range 2 {
			_ = l.Do(ctx, nop)
			_ = g.Do(ctx, nop)
		}
		overloaded := &resilience.StatusError{Code: 503}
		for range 200 {
			if errors.Is(th.Do(ctx, func(context.Context) error { return overloaded }), ratelimit.ErrThrottled) {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: an Observer that calls back into the limiter blocks")
	}
	assert.Equal(t, []uint64{1, 1, 1}, refused)
}

// A typed nil Observer panics at construction, not at the first event.
func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var nilLog *observetest.Log
	const msg = "ratelimit: Observer is a nil *observetest.Log"
	require.PanicsWithValue(t, msg, func() { ratelimit.New(1, 1, ratelimit.Config{Observer: nilLog}) })
	require.PanicsWithValue(t, msg, func() {
		ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Observer: nilLog}})
	})
	require.PanicsWithValue(t, msg, func() { ratelimit.NewThrottle(ratelimit.ThrottleConfig{Observer: nilLog}) })
}

package breaker_test

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

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/internal/observetest"
)

type ctxKey struct{}

// A breaker reports opening (with the failure that opened it), the calls
// it rejects, half-opening and closing, each with the context of the call
// that did it.
func TestEventsOpenRejectHalfOpenClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		b := breaker.New(breaker.Config{Name: "db", ConsecutiveFailures: 2, OpenDuration: 10 * time.Second, Observer: rec})
		ctx := context.WithValue(context.Background(), ctxKey{}, "call")

		require.ErrorIs(t, b.Do(ctx, fail), errBoom)
		assert.Empty(t, rec.TakeEvents(), "a failure is no event")
		require.ErrorIs(t, b.Do(ctx, fail), errBoom)
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{change("db", "", breaker.Closed, breaker.Open, errBoom)}, evs)
		assert.Equal(t, "call", ctxs[0].Value(ctxKey{}), "the context of the call that tripped it")

		time.Sleep(4 * time.Second)
		rejected := b.Do(ctx, ok)
		requireOpen(t, rejected, breaker.Open, 6*time.Second)
		evs, ctxs = rec.Take()
		require.Equal(t, []resilience.Event{rejection("db", "", "open", rejected)}, evs)
		assert.Same(t, rejected, evs[0].Err, "the very error returned")
		assert.Equal(t, "call", ctxs[0].Value(ctxKey{}))
		assert.Equal(t, "rejected", evs[0].Kind.String())

		time.Sleep(6 * time.Second)
		require.NoError(t, b.Do(ctx, ok))
		evs, ctxs = rec.Take()
		require.Equal(t, []resilience.Event{
			change("db", "", breaker.Open, breaker.HalfOpen, nil),
			change("db", "", breaker.HalfOpen, breaker.Closed, nil),
		}, evs)
		for _, c := range ctxs {
			assert.Equal(t, "call", c.Value(ctxKey{}))
		}

		require.NoError(t, b.Do(ctx, ok))
		assert.Empty(t, rec.TakeEvents(), "a success in Closed is no event")

		// A failed probe opens it again, with the probe's failure.
		probeErr := errors.New("probe failed")
		_ = b.Do(ctx, fail)
		_ = b.Do(ctx, fail)
		time.Sleep(10 * time.Second)
		require.ErrorIs(t, b.Do(ctx, func(context.Context) error { return probeErr }), probeErr)
		require.Equal(t, []resilience.Event{
			change("db", "", breaker.Closed, breaker.Open, errBoom),
			change("db", "", breaker.Open, breaker.HalfOpen, nil),
			change("db", "", breaker.HalfOpen, breaker.Open, probeErr),
		}, rec.TakeEvents())
	})
}

// A half-open breaker whose probe slots are taken rejects with Reason
// "half_open"; a forced-open one with "forced_open", and ForceOpen, Reset
// and Disable report their changes with context.Background().
func TestEventsHalfOpenFullAndManual(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		b := breaker.New(breaker.Config{Name: "db", ConsecutiveFailures: 1, OpenDuration: time.Second, Observer: rec})
		_ = call(b, fail)
		time.Sleep(time.Second)
		gate := make(chan struct{})
		done := make(chan error)
		go func() { done <- call(b, func(context.Context) error { <-gate; return nil }) }()
		synctest.Wait()
		rejected := call(b, ok)
		requireOpen(t, rejected, breaker.HalfOpen, 0)
		close(gate)
		require.NoError(t, <-done)
		require.Equal(t, []resilience.Event{
			change("db", "", breaker.Closed, breaker.Open, errBoom),
			change("db", "", breaker.Open, breaker.HalfOpen, nil),
			rejection("db", "", "half_open", rejected),
			change("db", "", breaker.HalfOpen, breaker.Closed, nil),
		}, rec.TakeEvents())

		b.ForceOpen()
		forced := call(b, ok)
		requireOpen(t, forced, breaker.ForcedOpen, 0)
		b.Reset()
		b.Disable()
		b.Reset()
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{
			change("db", "", breaker.Closed, breaker.ForcedOpen, nil),
			rejection("db", "", "forced_open", forced),
			change("db", "", breaker.ForcedOpen, breaker.Closed, nil),
			change("db", "", breaker.Closed, breaker.Disabled, nil),
			change("db", "", breaker.Disabled, breaker.Closed, nil),
		}, evs)
		for i, c := range ctxs {
			if evs[i].Kind == resilience.EventStateChange {
				assert.Equal(t, context.Background(), c, "event %d", i)
			}
		}
	})
}

// OnStateChange and the Observer both get each change, the hook first.
func TestEventsAfterOnStateChange(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 1, OpenDuration: time.Hour,
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "hook "+from.String()+" "+to.String())
		},
		Observer: resilience.ObserverFunc(func(_ context.Context, e resilience.Event) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "observer "+e.From+" "+e.To)
		}),
	})
	_ = call(b, fail)
	b.Reset()
	assert.Equal(t, []string{
		"hook closed open", "observer closed open",
		"hook open closed", "observer open closed",
	}, seen)
}

// The events of a Group's breakers carry its key as held and the group's
// name; a call refused for too many keys is an EventReject of Reason
// "too_many_keys" with the refused key. A ConfigFor without an Observer
// reports to the group's.
func TestEventsGroupKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		g := breaker.NewGroup(breaker.GroupConfig{
			Config:  breaker.Config{Name: "hosts", ConsecutiveFailures: 1, OpenDuration: time.Minute, Observer: rec},
			MaxKeys: 3,
			ConfigFor: func(key string) (breaker.Config, bool) {
				return breaker.Config{ConsecutiveFailures: 2, OpenDuration: time.Minute}, key == "own"
			},
		})
		ctx := context.Background()
		a := resilience.WithKey(ctx, "a.example")
		require.ErrorIs(t, g.Do(a, fail), errBoom)
		rejected := g.Do(a, ok)
		requireOpen(t, rejected, breaker.Open, time.Minute)
		require.Equal(t, []resilience.Event{
			change("hosts", "a.example", breaker.Closed, breaker.Open, errBoom),
			rejection("hosts", "a.example", "open", rejected),
		}, rec.TakeEvents())

		long := strings.Repeat("x", 200)
		require.ErrorIs(t, g.Do(resilience.WithKey(ctx, long), fail), errBoom)
		evs := rec.TakeEvents()
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0].Key, "sha256:"), evs[0].Key)
		var held []string
		g.Range(func(k string, _ breaker.Metrics) bool { held = append(held, k); return true })
		assert.Contains(t, held, evs[0].Key, "the key as the group holds it")

		own := resilience.WithKey(ctx, "own")
		_ = g.Do(own, fail)
		_ = g.Do(own, fail)
		require.Equal(t, []resilience.Event{
			change("hosts", "own", breaker.Closed, breaker.Open, errBoom),
		}, rec.TakeEvents(), "ConfigFor's breaker: the group's Name and Observer")

		// Three open breakers: no room for a fourth key.
		refused := g.Do(resilience.WithKey(ctx, "b.example"), ok)
		require.ErrorIs(t, refused, breaker.ErrTooManyKeys)
		require.Equal(t, []resilience.Event{
			rejection("hosts", "b.example", "too_many_keys", refused),
		}, rec.TakeEvents())
	})
}

// The health check's changes carry the context of its goroutine, which
// holds the Group key, and the check's failure.
func TestEventsHealthCheck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		checkErr := errors.New("still down")
		var healthy bool
		var mu sync.Mutex
		g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{
			ConsecutiveFailures: 1, OpenDuration: time.Second, Observer: rec,
			HealthCheck: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				if healthy {
					return nil
				}
				return checkErr
			},
		}})
		defer g.Close()
		_ = g.Do(resilience.WithKey(context.Background(), "k"), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		healthy = true
		mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{
			change("", "k", breaker.Closed, breaker.Open, errBoom),
			change("", "k", breaker.Open, breaker.HalfOpen, nil),
			change("", "k", breaker.HalfOpen, breaker.Open, checkErr),
			change("", "k", breaker.Open, breaker.HalfOpen, nil),
			change("", "k", breaker.HalfOpen, breaker.Closed, nil),
		}, evs)
		for _, c := range ctxs[1:] {
			assert.Equal(t, "k", resilience.KeyFrom(c), "the health-check goroutine's context")
		}
	})
}

// An Observer may call the breaker's methods, ForceOpen included, and the
// group's: no lock is held while it runs.
func TestEventsObserverCallsBack(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	var b *breaker.Breaker
	var g *breaker.Group
	var states []breaker.State
	rec.On = func(_ context.Context, e resilience.Event) {
		var m breaker.Metrics
		if e.Key == "" {
			m = b.Metrics()
		} else {
			m, _ = g.Metrics(e.Key)
			_ = g.Len()
			g.Range(func(string, breaker.Metrics) bool { return true })
		}
		states = append(states, m.State)
		if e.Kind == resilience.EventStateChange && e.To == "open" && e.Key == "" {
			b.ForceOpen()
		}
	}
	b = breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour, Observer: rec})
	g = breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour, Observer: rec}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = call(b, fail)
		_ = call(b, ok)
		keyed := resilience.WithKey(context.Background(), "k")
		_ = g.Do(keyed, fail)
		_ = g.Do(keyed, ok)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: an Observer that calls back into the breaker blocks")
	}
	evs := rec.TakeEvents()
	require.Equal(t, []resilience.Event{
		change("", "", breaker.Closed, breaker.Open, errBoom),
		change("", "", breaker.Open, breaker.ForcedOpen, nil),
		rejection("", "", "forced_open", evs[2].Err),
		change("", "k", breaker.Closed, breaker.Open, errBoom),
		rejection("", "k", "open", evs[4].Err),
	}, evs)
	assert.Equal(t, []breaker.State{breaker.Open, breaker.ForcedOpen, breaker.ForcedOpen, breaker.Open, breaker.Open}, states,
		"each event is delivered after its change has happened")
}

// A typed nil Observer panics in New and NewGroup, not at the first event.
func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var nilLog *observetest.Log
	require.PanicsWithValue(t, "breaker: Observer is a nil *observetest.Log", func() {
		breaker.New(breaker.Config{Observer: nilLog})
	})
	require.PanicsWithValue(t, "breaker: Observer is a nil *observetest.Log", func() {
		breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{Observer: nilLog}})
	})
}

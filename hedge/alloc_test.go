//go:build !race

package hedge_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// What a call whose first attempt answers before the delay allocates. The
// Hedge's own state is pooled; what is left is made afresh for each call
// because it may outlive Do or is not ours: the race (resilience.NewRace
// and Race.Attempt: 3 objects at most), the first attempt's cancellable
// context (context.WithCancelCause: 2) and its timer (time.AfterFunc: 1);
// under resilience.Transport, the release handed to
// resilience.DeferRelease is one more. The adaptive delay adds nothing to
// the fixed one: recording a latency allocates nothing.
func TestAllocs(t *testing.T) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	fixed := hedge.New(hedge.Config{Delay: time.Hour})
	adaptive := hedge.New(hedge.Config{})
	f := testing.AllocsPerRun(1000, func() { _ = fixed.Do(ctx, ok) })
	a := testing.AllocsPerRun(1000, func() { _ = adaptive.Do(ctx, ok) })
	t.Logf("success path: %v allocations (fixed delay), %v (adaptive)", f, a)
	assert.LessOrEqual(t, f, 6.0)
	assert.Equal(t, f, a, "the sketch allocates nothing")

	// An Observer adds no allocation: the events are passed by value.
	noop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	observed := hedge.New(hedge.Config{Delay: time.Hour, Observer: noop})
	assert.Equal(t, f, testing.AllocsPerRun(1000, func() { _ = observed.Do(ctx, ok) }), "with an Observer")
	single := hedge.New(hedge.Config{MaxHedges: resilience.None, Observer: noop})
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = single.Do(ctx, ok) }), "MaxHedges None with an Observer")

	none := hedge.New(hedge.Config{MaxHedges: resilience.None})
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = none.Do(ctx, ok) }), "MaxHedges None: a plain call")

	// A request that may not be sent twice is a plain call too.
	var post context.Context
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		post = req.Context()
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
	})
	req, _ := http.NewRequest(http.MethodPost, "http://api.test/", nil)
	_, _ = resilience.Transport(rt, adaptive).RoundTrip(req)
	n := adaptive.Metrics().NotRepeatable
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = adaptive.Do(post, ok) }), "not repeatable: a plain call")
	assert.Equal(t, n+1001, adaptive.Metrics().NotRepeatable)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

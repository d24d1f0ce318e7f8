//go:build !race

package fallback_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/fallback"
)

// The success path without Stale — op succeeds, no fallback used — makes
// no allocation: in Fallback.Do itself, and none on top of resilience.Do's
// own two (the caller's, with or without a policy).
func TestSuccessPathAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	fb := fallback.New(fallback.Value(1), fallback.Config{OnFallback: func(context.Context, error, fallback.Kind) {}})
	op := func(context.Context) error { return nil }
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = fb.Do(ctx, op) }))
	observed := fallback.New(fallback.Value(1), fallback.Config{Observer: noopObserver})
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = observed.Do(ctx, op) }), "with an Observer")

	typed := func(context.Context) (int, error) { return 2, nil }
	noop := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	base := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, noop, typed) })
	with := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, fb, typed) })
	assert.Equal(t, base, with, "resilience.Do alone: %v, with the fallback: %v", base, with)
}

var noopObserver = resilience.ObserverFunc(func(context.Context, resilience.Event) {})

// With Stale, the success path stores the value of the call's key: for a
// key already held, without allocating.
func TestStaleSuccessPathAllocatesNothingForAHeldKey(t *testing.T) {
	ctx := resilience.WithKey(context.Background(), "k")
	fb := fallback.New[int](nil, fallback.Config{Stale: time.Minute})
	typed := func(context.Context) (int, error) { return 2, nil }
	noop := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	_, _ = resilience.Do(ctx, fb, typed)
	base := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, noop, typed) })
	with := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, fb, typed) })
	assert.Equal(t, base, with, "resilience.Do alone: %v, with the stale fallback: %v", base, with)
	require.Equal(t, uint64(1+1001), fb.Metrics().Stored, "AllocsPerRun runs once more than asked")
}

// The costs the doc states, measured: the failure paths, and a good GET
// remembered under Transport (copied as the caller reads it).
func TestAllocationFigures(t *testing.T) {
	ctx := resilience.WithKey(context.Background(), "k")
	noop := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	failing := func(context.Context) (int, error) { return 0, errDown }
	fb := fallback.New(fallback.Value(1), fallback.Config{})
	stale := fallback.New[int](nil, fallback.Config{Stale: time.Minute})
	_, _ = resilience.Do(ctx, stale, func(context.Context) (int, error) { return 1, nil })
	base := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, noop, failing) })
	value := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, fb, failing) })
	st := testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, stale, failing) })
	t.Logf("allocations beyond resilience.Do's: failure answered with a value %v, with a stale value %v", value-base, st-base)
	assert.LessOrEqual(t, value-base, 1.0)
	assert.LessOrEqual(t, st-base, 1.0)
	// An Observer adds no allocation to an answer: the event is passed by
	// value.
	observed := fallback.New(fallback.Value(1), fallback.Config{Observer: noopObserver})
	assert.Equal(t, value, testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(ctx, observed, failing) }), "with an Observer")

	body := strings.Repeat("b", 512)
	rt := roundTripper(func(req *http.Request) (*http.Response, error) {
		resp := response(req, http.StatusOK, http.Header{"Content-Type": {"text/plain"}}, io.NopCloser(strings.NewReader(body)))
		resp.ContentLength = int64(len(body))
		return resp, nil
	})
	buf := make([]byte, 1024)
	roundTrip := func(t http.RoundTripper) func() {
		req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/a", nil)
		return func() {
			resp, err := t.RoundTrip(req)
			if err != nil {
				panic(err)
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	}
	plain := testing.AllocsPerRun(200, roundTrip(resilience.Transport(rt, noop)))
	dummy := testing.AllocsPerRun(200, roundTrip(resilience.Transport(rt, fallback.NewHTTP(fallback.StaticResponse(200, nil, ""), fallback.HTTPConfig{}))))
	remembered := testing.AllocsPerRun(200, roundTrip(resilience.Transport(rt, fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Minute}))))
	t.Logf("a good GET under Transport: %v allocations (response included); with NewHTTP without Stale %v; with Stale %v",
		plain, dummy, remembered)
	assert.Equal(t, plain, dummy)
	assert.LessOrEqual(t, remembered-plain, 10.0, "key, header copy, stored response, body copy, tee")
}

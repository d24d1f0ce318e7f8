package chaos_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/internal/observetest"
)

func inject(name, reason string) resilience.Event {
	return resilience.Event{Kind: resilience.EventInject, Policy: "chaos", Name: name, Reason: reason}
}

type eventCtxKey struct{}

// Every fault injected is an EventInject whose Reason is its kind, with
// the call's context, before it takes effect (after OnInject), in Do,
// Transport and Handler. The Observer may call the injector's methods.
func TestEventsInject(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		var inj *chaos.Injector
		var order []string
		start := time.Now()
		inj = chaos.New(chaos.Config{
			Name:     "db",
			Observer: rec,
			OnInject: func(_ context.Context, k chaos.Kind, _ chaos.Call) {
				order = append(order, "hook "+k.String())
			},
		},
			chaos.Fault{When: chaos.First(1), Delay: chaos.Fixed(time.Second), Action: chaos.ConnReset()},
			chaos.Fault{Match: chaos.Any(chaos.Key("other"), chaos.Host("other")), Action: chaos.Status(503)},
		)
		rec.On = func(_ context.Context, e resilience.Event) {
			m := inj.Metrics()
			_ = inj.Enabled()
			order = append(order, "observer "+e.Reason)
			assert.Positive(t, m.Calls, "counted before it is reported")
			if e.Reason == "latency" || e.Reason == "conn_reset" {
				assert.Equal(t, start, time.Now(), "before the fault takes effect")
			}
		}
		ctx := context.WithValue(resilience.WithKey(context.Background(), "svc"), eventCtxKey{}, "call")
		err := inj.Do(ctx, func(context.Context) error { return nil })
		require.Error(t, err)
		assert.Equal(t, time.Second, time.Since(start))
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{inject("db", "latency"), inject("db", "conn_reset")}, evs)
		for _, c := range ctxs {
			assert.Equal(t, "call", c.Value(eventCtxKey{}))
		}
		assert.Equal(t, []string{"hook latency", "observer latency", "hook conn-reset", "observer conn_reset"}, order)

		require.NoError(t, inj.Do(ctx, func(context.Context) error { return nil }))
		evs, _ = rec.Take()
		assert.Empty(t, evs, "a call with no fault is no event")

		other := context.WithValue(context.Background(), eventCtxKey{}, "request")
		req := httptest.NewRequestWithContext(other, http.MethodGet, "http://other/", nil)
		next := chaos.InProcess(http.NotFoundHandler())
		resp, err := inj.Transport(next).RoundTrip(req)
		require.NoError(t, err)
		require.Equal(t, 503, resp.StatusCode)
		resp.Body.Close()
		w := httptest.NewRecorder()
		inj.Handler(http.NotFoundHandler()).ServeHTTP(w, req)
		require.Equal(t, 503, w.Code)
		evs, ctxs = rec.Take()
		require.Equal(t, []resilience.Event{inject("db", "status"), inject("db", "status")}, evs)
		for _, c := range ctxs {
			assert.Equal(t, "request", c.Value(eventCtxKey{}), "the request's context")
		}

		inj.SetEnabled(false)
		_ = inj.Do(resilience.WithKey(context.Background(), "other"), func(context.Context) error { return nil })
		evs, _ = rec.Take()
		assert.Empty(t, evs, "a disabled injector reports nothing")
	})
}

// Body faults and the other kinds have their snake_case reasons.
func TestEventsInjectReasons(t *testing.T) {
	t.Parallel()
	for action, want := range map[*chaos.Action]string{
		ptr(chaos.Error(chaos.ErrInjected)): "error",
		ptr(chaos.ConnRefused()):            "conn_refused",
		ptr(chaos.EOF()):                    "eof",
		ptr(chaos.DialTimeout()):            "dial_timeout",
		ptr(chaos.SlowBody(1, 0)):           "slow_body",
		ptr(chaos.TruncateBody(1)):          "truncate_body",
		ptr(chaos.BodyError(1, nil)):        "body_error",
		ptr(chaos.Panic("boom")):            "panic",
	} {
		rec := &observetest.Log{}
		inj := chaos.New(chaos.Config{Observer: rec}, chaos.Fault{Action: *action})
		req := httptest.NewRequest(http.MethodGet, "http://svc/", nil)
		func() {
			defer func() { _ = recover() }()
			if resp, err := inj.Transport(chaos.InProcess(http.NotFoundHandler())).RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}()
		evs, _ := rec.Take()
		assert.Equal(t, []resilience.Event{inject("", want)}, evs, want)
	}
}

func ptr[T any](v T) *T { return &v }

// With or without an Observer, injecting allocates the same: the event is
// passed by value.
func TestEventsAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	allocs := func(o resilience.Observer, faults ...chaos.Fault) float64 {
		inj := chaos.New(chaos.Config{Observer: o}, faults...)
		return testing.AllocsPerRun(1000, func() { _ = inj.Do(ctx, op) })
	}
	noop := resilience.ObserverFunc(func(context.Context, resilience.Event) {})
	for name, faults := range map[string][]chaos.Fault{
		"no fault applies": {{Match: chaos.Key("other"), Action: chaos.Status(503)}},
		"inject error":     {{Action: chaos.Error(chaos.ErrInjected)}},
	} {
		assert.Equal(t, allocs(nil, faults...), allocs(noop, faults...), name)
	}
	assert.Zero(t, allocs(noop, chaos.Fault{Action: chaos.Error(chaos.ErrInjected)}), "inject error")
}

// A typed nil Observer panics in New.
func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var nilLog *observetest.Log
	require.PanicsWithValue(t, "chaos: Observer is a nil *observetest.Log", func() {
		chaos.New(chaos.Config{Observer: nilLog})
	})
}

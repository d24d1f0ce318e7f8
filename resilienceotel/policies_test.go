package resilienceotel_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/resilienceotel"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// spanEvent is a span event by its name and attributes.
type spanEvent struct {
	name  string
	attrs []attribute.KeyValue
}

// spanEvents returns the events of the one span exported.
func (e *env) spanEvents(t *testing.T) ([]spanEvent, []attribute.KeyValue) {
	t.Helper()
	spans := e.spans.GetSpans()
	require.Len(t, spans, 1)
	var out []spanEvent
	for _, x := range spans[0].Events {
		out = append(out, spanEvent{x.Name, x.Attributes})
	}
	return out, spans[0].Attributes
}

const downType = "*errors.errorString" // errDown's error.type

// A real breaker opens on its second failure and rejects the next call:
// the state change and the rejection are counted and marked on the span,
// whose circuitbreaker.state is the state that rejected the call.
func TestBreakerEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	b := breaker.New(breaker.Config{Name: "ledger", ConsecutiveFailures: 2, OpenDuration: time.Hour, Observer: e.obs})
	defer b.Close()
	ctx, span := e.tracer.Start(context.Background(), "call")
	for range 2 {
		assert.ErrorIs(t, b.Do(ctx, fail), errDown)
	}
	assert.ErrorIs(t, b.Do(ctx, succeed), breaker.ErrOpen)
	span.End()
	b.ForceOpen() // context.Background(): counted, on no span
	assert.ErrorIs(t, b.Do(context.Background(), succeed), breaker.ErrOpen)

	const open = "*breaker.OpenError"
	assertMetric(t, eventsMetric(
		count(1, eventName("state_change"), severity("info"), policyKind("breaker"), policyName("ledger"),
			stateFrom("closed"), stateTo("open"), errorType(downType)),
		count(1, eventName("state_change"), severity("info"), policyKind("breaker"), policyName("ledger"),
			stateFrom("open"), stateTo("forced-open")),
		count(1, eventName("rejected"), severity("warn"), policyKind("breaker"), policyName("ledger"), reason("open"), errorType(open)),
		count(1, eventName("rejected"), severity("warn"), policyKind("breaker"), policyName("ledger"), reason("forced_open"), errorType(open)),
	), e.metric(t, "resilience.events"))

	events, attrs := e.spanEvents(t)
	assert.Equal(t, []spanEvent{
		{"resilience.state_change", []attribute.KeyValue{policyKind("breaker"), policyName("ledger"), stateFrom("closed"), stateTo("open"), errorType(downType)}},
		{"resilience.rejected", []attribute.KeyValue{policyKind("breaker"), policyName("ledger"), reason("open"), errorType(open)}},
	}, events)
	assert.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("circuitbreaker.name", "ledger"),
		attribute.String("circuitbreaker.state", "open"),
	}, attrs)
}

// A real retry whose first attempt fails with a 503 and whose second
// succeeds, in virtual time so that every duration is exact: the attempts,
// the retry and the call are counted, the attempts and the call measured,
// and the span gets the retry's events and attributes.
func TestRetryEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, resilienceotel.Config{})
		var (
			mu   sync.Mutex
			wait time.Duration // of the retry, at random
		)
		capture := resilience.ObserverFunc(func(_ context.Context, ev resilience.Event) {
			if ev.Kind == resilience.EventRetry {
				mu.Lock()
				wait = ev.Duration
				mu.Unlock()
			}
		})
		r := retry.New(retry.Config{Name: "ledger", MaxRetries: 2, InitialDelay: 100 * time.Millisecond,
			Observer: resilience.Observers(e.obs, capture)})
		unavailable := &resilience.StatusError{Code: 503}
		calls := 0
		ctx, span := e.tracer.Start(context.Background(), "call")
		err := r.Do(ctx, func(context.Context) error {
			calls++
			if calls == 1 {
				time.Sleep(300 * time.Millisecond)
				return unavailable
			}
			time.Sleep(20 * time.Millisecond)
			return nil
		})
		span.End()
		require.NoError(t, err)
		require.Positive(t, wait)

		got := e.collect(t)
		assertMetric(t, eventsMetric(
			count(1, eventName("attempt"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("failure"), errorType("503")),
			count(1, eventName("retry"), severity("info"), policyKind("retry"), policyName("ledger"), errorType("503")),
			count(1, eventName("attempt"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("success")),
			count(1, eventName("done"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("success")),
		), got["resilience.events"])
		assertMetric(t, histMetric("resilience.attempt.duration", attemptDesc,
			hist(set(policyKind("retry"), policyName("ledger"), outcome("failure"), attemptNum(1), errorType("503")), map[int]uint64{7: 1}, 0.3),
			hist(set(policyKind("retry"), policyName("ledger"), outcome("success"), attemptNum(2)), map[int]uint64{2: 1}, 0.02),
		), got["resilience.attempt.duration"])
		call := (320*time.Millisecond + wait).Seconds()
		pts := got["resilience.call.duration"].Data.(metricdata.Histogram[float64]).DataPoints
		require.Len(t, pts, 1)
		assert.Equal(t, set(policyKind("retry"), policyName("ledger"), outcome("success")), pts[0].Attributes)
		assert.Equal(t, uint64(1), pts[0].Count)
		assert.InDelta(t, call, pts[0].Sum, 1e-9)

		events, attrs := e.spanEvents(t)
		assert.Equal(t, []spanEvent{
			{"resilience.attempt", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(1), durationS(0.3), outcome("failure"), errorType("503")}},
			{"resilience.retry", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(2), durationS(wait.Seconds()), errorType("503")}},
			{"resilience.attempt", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(2), durationS(0.02), outcome("success")}},
			{"resilience.done", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(2), durationS(call), outcome("success")}},
		}, events)
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("retry.name", "ledger"),
			attribute.Int("retry.attempt", 2),
			attribute.String("retry.result", "success"),
		}, attrs)
	})
}

// A real time limit that expires: timeout.* on the span.
func TestTimeLimitEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, resilienceotel.Config{})
		tl := timelimit.New(150*time.Millisecond, timelimit.Config{Name: "attempt", Observer: e.obs})
		ctx, span := e.tracer.Start(context.Background(), "call")
		err := tl.Do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		span.End()
		require.ErrorIs(t, err, timelimit.ErrTimeout)

		assertMetric(t, eventsMetric(
			count(1, eventName("timeout"), severity("warn"), policyKind("timelimit"), policyName("attempt"), errorType("timeout")),
		), e.metric(t, "resilience.events"))
		events, attrs := e.spanEvents(t)
		assert.Equal(t, []spanEvent{
			{"resilience.timeout", []attribute.KeyValue{policyKind("timelimit"), policyName("attempt"), durationS(0.15), errorType("timeout")}},
		}, events)
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("timeout.name", "attempt"),
			attribute.Float64("timeout.duration", 0.15),
			attribute.Bool("timeout.occurred", true),
		}, attrs)
	})
}

// A real keyed bulkhead that is full: the rejection is counted without
// its key, unless Config.Keys; the span event has the key.
func TestBulkheadGroupEvents(t *testing.T) {
	t.Parallel()
	for _, keys := range []bool{false, true} {
		e := newEnv(t, resilienceotel.Config{Keys: keys})
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: bulkhead.Config{Name: "tenants", Observer: e.obs}})
		release, held := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = g.Do(resilience.WithKey(context.Background(), "t1"), func(context.Context) error { close(held); <-release; return nil })
		}()
		<-held
		ctx, span := e.tracer.Start(resilience.WithKey(context.Background(), "t1"), "call")
		err := g.Do(ctx, succeed)
		span.End()
		close(release)
		<-done
		require.ErrorIs(t, err, bulkhead.ErrFull)

		want := []attributeKV{eventName("rejected"), severity("warn"), policyKind("bulkhead"), policyName("tenants"),
			reason("full"), errorType("*bulkhead.FullError")}
		if keys {
			want = append(want, policyKey("t1"))
		}
		assertMetric(t, eventsMetric(count(1, want...)), e.metric(t, "resilience.events"))
		events, attrs := e.spanEvents(t)
		assert.Equal(t, []spanEvent{
			{"resilience.rejected", []attribute.KeyValue{policyKind("bulkhead"), policyName("tenants"), policyKey("t1"), reason("full"), errorType("*bulkhead.FullError")}},
		}, events)
		assert.Empty(t, attrs, "the proposal has no bulkhead")
	}
}

// A real cache: a Get that loads, then one that hits, in virtual time.
// Each is counted, the load measured on its span event, and the span's
// cache.usage is that of the last Get.
func TestCacheEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, resilienceotel.Config{})
		c := cache.New(func(context.Context, int) (string, error) {
			time.Sleep(40 * time.Millisecond)
			return "alice", nil
		}, cache.Config{Name: "users", TTL: time.Hour, Observer: e.obs})
		defer c.Close()
		ctx, span := e.tracer.Start(context.Background(), "call")
		for range 2 {
			v, err := c.Get(ctx, 1)
			require.NoError(t, err)
			require.Equal(t, "alice", v)
		}
		span.End()

		assertMetric(t, eventsMetric(
			count(1, eventName("cache_load"), severity("debug"), policyKind("cache"), policyName("users"), outcome("success")),
			count(1, eventName("cache_miss"), severity("debug"), policyKind("cache"), policyName("users")),
			count(1, eventName("cache_hit"), severity("debug"), policyKind("cache"), policyName("users")),
		), e.metric(t, "resilience.events"))
		events, attrs := e.spanEvents(t)
		assert.Equal(t, []spanEvent{
			{"resilience.cache_load", []attribute.KeyValue{policyKind("cache"), policyName("users"), durationS(0.04), outcome("success")}},
			{"resilience.cache_miss", []attribute.KeyValue{policyKind("cache"), policyName("users")}},
			{"resilience.cache_hit", []attribute.KeyValue{policyKind("cache"), policyName("users")}},
		}, events)
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("cache.name", "users"),
			attribute.String("cache.usage", "hit"),
		}, attrs)
	})
}

// A real rate limiter that refuses a call: ratelimiter.* on the span.
func TestLimiterEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	l := ratelimit.New(rate.Every(time.Hour), 1, ratelimit.Config{Name: "api", Observer: e.obs})
	ctx, span := e.tracer.Start(context.Background(), "call")
	require.NoError(t, l.Do(ctx, succeed))
	err := l.Do(ctx, succeed)
	span.End()
	require.ErrorIs(t, err, ratelimit.ErrLimited)

	assertMetric(t, eventsMetric(
		count(1, eventName("rejected"), severity("warn"), policyKind("ratelimit"), policyName("api"), reason("limited"), errorType("*ratelimit.LimitedError")),
	), e.metric(t, "resilience.events"))
	events, attrs := e.spanEvents(t)
	assert.Equal(t, []spanEvent{
		{"resilience.rejected", []attribute.KeyValue{policyKind("ratelimit"), policyName("api"), reason("limited"), errorType("*ratelimit.LimitedError")}},
	}, events)
	assert.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("ratelimiter.name", "api"),
		attribute.String("ratelimiter.result", "rejected"),
	}, attrs)
}

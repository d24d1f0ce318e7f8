package resilienceotel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resilienceotel"
	"github.com/resiliencekit/resilience/retry"
)

var _ resilience.Observer = (*resilienceotel.Observer)(nil)

type fullError struct{}

func (fullError) Error() string { return "full" }

// A call that fails once with a 503 and succeeds on its second attempt,
// a rejection by a keyed bulkhead and a breaker opening: every event is
// counted once under its attributes, the attempts and the call are
// measured in seconds.
func TestObserverMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	ctx := context.Background()
	unavailable := &resilience.StatusError{Code: 503}
	for _, ev := range []resilience.Event{
		{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 1, Duration: 300 * time.Millisecond, Err: unavailable},
		{Kind: resilience.EventRetry, Policy: "retry", Name: "ledger", Attempt: 2, Duration: 100 * time.Millisecond, Err: unavailable},
		{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 2, Duration: 20 * time.Millisecond},
		{Kind: resilience.EventDone, Policy: "retry", Name: "ledger", Attempt: 2, Duration: 500 * time.Millisecond},
		{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 1, Duration: 20 * time.Millisecond},
		{Kind: resilience.EventDone, Policy: "retry", Name: "ledger", Attempt: 1, Duration: 20 * time.Millisecond},
		{Kind: resilience.EventReject, Policy: "bulkhead", Name: "db", Key: "10.0.0.1", Reason: "full", Err: fullError{}},
		{Kind: resilience.EventReject, Policy: "bulkhead", Name: "db", Key: "10.0.0.2", Reason: "full", Err: fullError{}},
		{Kind: resilience.EventStateChange, Policy: "breaker", From: "closed", To: "open", Err: unavailable},
	} {
		e.obs.Observe(ctx, ev)
	}
	got := e.collect(t)
	assertMetric(t, eventsMetric(
		count(1, eventName("attempt"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("failure"), errorType("503")),
		count(1, eventName("retry"), severity("info"), policyKind("retry"), policyName("ledger"), errorType("503")),
		count(2, eventName("attempt"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("success")),
		count(2, eventName("done"), severity("debug"), policyKind("retry"), policyName("ledger"), outcome("success")),
		count(2, eventName("rejected"), severity("warn"), policyKind("bulkhead"), policyName("db"), reason("full"),
			errorType("github.com/resiliencekit/resilience/resilienceotel_test.fullError")),
		count(1, eventName("state_change"), severity("info"), policyKind("breaker"), stateFrom("closed"), stateTo("open"), errorType("503")),
	), got["resilience.events"])
	assertMetric(t, histMetric("resilience.attempt.duration", attemptDesc,
		hist(set(policyKind("retry"), policyName("ledger"), outcome("failure"), attemptNum(1), errorType("503")), map[int]uint64{7: 1}, 0.3),
		hist(set(policyKind("retry"), policyName("ledger"), outcome("success"), attemptNum(2)), map[int]uint64{2: 1}, 0.02),
		hist(set(policyKind("retry"), policyName("ledger"), outcome("success"), attemptNum(1)), map[int]uint64{2: 1}, 0.02),
	), got["resilience.attempt.duration"])
	assertMetric(t, histMetric("resilience.call.duration", callDesc,
		hist(set(policyKind("retry"), policyName("ledger"), outcome("success")), map[int]uint64{2: 1, 7: 1}, 0.5, 0.02),
	), got["resilience.call.duration"])
}

// With Config.Keys, the key of a group is an attribute of the metrics;
// attempt numbers over MaxAttemptNumber are reported as MaxAttemptNumber.
func TestObserverKeysAndAttemptCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{Keys: true})
	ctx := context.Background()
	for _, key := range []string{"a", "b", "a"} {
		e.obs.Observe(ctx, resilience.Event{Kind: resilience.EventReject, Policy: "ratelimit", Key: key, Reason: "rate", Err: fullError{}})
	}
	for _, n := range []int{10, 11, 500} {
		e.obs.Observe(ctx, resilience.Event{Kind: resilience.EventAttempt, Policy: "hedge", Attempt: n, Duration: time.Second})
	}
	got := e.collect(t)
	et := errorType("github.com/resiliencekit/resilience/resilienceotel_test.fullError")
	assertMetric(t, eventsMetric(
		count(2, eventName("rejected"), severity("warn"), policyKind("ratelimit"), policyKey("a"), reason("rate"), et),
		count(1, eventName("rejected"), severity("warn"), policyKind("ratelimit"), policyKey("b"), reason("rate"), et),
		count(3, eventName("attempt"), severity("debug"), policyKind("hedge"), outcome("success")),
	), got["resilience.events"])
	assertMetric(t, histMetric("resilience.attempt.duration", attemptDesc,
		hist(set(policyKind("hedge"), outcome("success"), attemptNum(resilienceotel.MaxAttemptNumber)), map[int]uint64{9: 3}, 1, 1, 1),
	), got["resilience.attempt.duration"])
}

type typedError struct{}

func (typedError) Error() string     { return "typed" }
func (typedError) ErrorType() string { return "quota_exceeded" }

type myError struct{}

func (*myError) Error() string { return "mine" }

// error.type is a bounded classification of the error, in the documented
// order, never its text.
func TestErrorType(t *testing.T) {
	t.Parallel()
	netTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"ErrorType method", fmt.Errorf("call: %w", typedError{}), "quota_exceeded"},
		{"ErrorType before status", fmt.Errorf("%w: %w", typedError{}, &resilience.StatusError{Code: 429}), "quota_exceeded"},
		{"status", fmt.Errorf("call: %w", &resilience.StatusError{Code: 503}), "503"},
		{"odd status", &resilience.StatusError{Code: 999}, "http_status_other"},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), "timeout"},
		{"net timeout", netTimeout, "timeout"},
		{"canceled", context.Canceled, "canceled"},
		{"pointer type", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &myError{})), "*resilienceotel_test.myError"},
		{"named type", fullError{}, "github.com/resiliencekit/resilience/resilienceotel_test.fullError"},
		{"errors.New", errors.New("connection refused by 10.1.2.3"), "*errors.errorString"},
		{"joined", errors.Join(errors.New("x"), errors.New("y")), "*errors.joinError"},
		{"retry exhausted", fmt.Errorf("a: %w", &retry.ExhaustedError{Attempts: 3, Err: fmt.Errorf("b: %w", &myError{})}), "*resilienceotel_test.myError"},
		{"retry exhausted, no error", &retry.ExhaustedError{Attempts: 3}, "*retry.ExhaustedError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errorTypeOf(t, resilienceotel.Config{}, tc.err))
		})
	}
	t.Run("Config.ErrorType", func(t *testing.T) {
		t.Parallel()
		c := resilienceotel.Config{ErrorType: func(err error) string {
			if errors.Is(err, context.Canceled) {
				return "" // the default
			}
			return "mine"
		}}
		assert.Equal(t, "mine", errorTypeOf(t, c, &resilience.StatusError{Code: 503}))
		assert.Equal(t, "canceled", errorTypeOf(t, c, context.Canceled))
	})
}

// errorTypeOf observes a rejection with err and returns its error.type.
func errorTypeOf(t *testing.T, c resilienceotel.Config, err error) string {
	e := newEnv(t, c)
	e.obs.Observe(context.Background(), resilience.Event{Kind: resilience.EventReject, Policy: "p", Err: err})
	pts := e.metric(t, "resilience.events").Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, pts, 1)
	v, ok := pts[0].Attributes.Value("error.type")
	require.True(t, ok)
	return v.AsString()
}

// Every event on a recording span becomes a span event with its
// attributes, and the span gets the proposal's attributes of the
// policies it went through; a span that does not record, or none, gets
// nothing.
func TestObserverSpans(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	ctx, span := e.tracer.Start(context.Background(), "GET /ledger")
	unavailable := &resilience.StatusError{Code: 503}
	events := []resilience.Event{
		{Kind: resilience.EventCacheMiss, Policy: "cache", Name: "users"},
		{Kind: resilience.EventTimeout, Policy: "timelimit", Name: "attempt", Duration: 150 * time.Millisecond, Err: context.DeadlineExceeded},
		{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 1, Duration: 150 * time.Millisecond, Err: unavailable},
		{Kind: resilience.EventRetry, Policy: "retry", Name: "ledger", Attempt: 2, Duration: 50 * time.Millisecond, Err: unavailable},
		{Kind: resilience.EventReject, Policy: "ratelimit", Name: "api", Key: "10.0.0.1", Reason: "rate", Err: fullError{}},
		{Kind: resilience.EventStateChange, Policy: "breaker", Name: "ledger", Key: "ledger.internal", From: "closed", To: "open"},
		{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 12, Duration: 10 * time.Millisecond},
		{Kind: resilience.EventDone, Policy: "retry", Name: "ledger", Attempt: 12, Duration: 210 * time.Millisecond},
		{Kind: resilience.EventPublish, Policy: "outbox", Count: 3},
	}
	for _, ev := range events {
		e.obs.Observe(ctx, ev)
	}
	span.End()

	// Not recording: no span, a span sampled out.
	e.obs.Observe(context.Background(), events[0])
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSyncer(e.spans))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	ctx2, dropped := tp.Tracer("test").Start(context.Background(), "dropped")
	require.False(t, dropped.IsRecording())
	e.obs.Observe(ctx2, events[0])
	dropped.End()

	spans := e.spans.GetSpans()
	require.Len(t, spans, 1)
	s := spans[0]
	type ev struct {
		name  string
		attrs []attribute.KeyValue
	}
	var got []ev
	for _, x := range s.Events {
		got = append(got, ev{x.Name, x.Attributes})
	}
	assert.Equal(t, []ev{
		{"resilience.cache_miss", []attribute.KeyValue{policyKind("cache"), policyName("users")}},
		{"resilience.timeout", []attribute.KeyValue{policyKind("timelimit"), policyName("attempt"), durationS(0.15), errorType("timeout")}},
		{"resilience.attempt", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(1), durationS(0.15), outcome("failure"), errorType("503")}},
		{"resilience.retry", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(2), durationS(0.05), errorType("503")}},
		{"resilience.rejected", []attribute.KeyValue{policyKind("ratelimit"), policyName("api"), policyKey("10.0.0.1"), reason("rate"),
			errorType("github.com/resiliencekit/resilience/resilienceotel_test.fullError")}},
		{"resilience.state_change", []attribute.KeyValue{policyKind("breaker"), policyName("ledger"), policyKey("ledger.internal"), stateFrom("closed"), stateTo("open")}},
		{"resilience.attempt", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(12), durationS(0.01), outcome("success")}},
		{"resilience.done", []attribute.KeyValue{policyKind("retry"), policyName("ledger"), attemptNum(12), durationS(0.21), outcome("success")}},
		{"resilience.publish", []attribute.KeyValue{policyKind("outbox"), countAttr(3), outcome("success")}},
	}, got)
	assert.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("cache.name", "users"),
		attribute.String("cache.usage", "miss"),
		attribute.String("timeout.name", "attempt"),
		attribute.Float64("timeout.duration", 0.15),
		attribute.Bool("timeout.occurred", true),
		attribute.String("retry.name", "ledger"),
		attribute.Int("retry.attempt", 12),
		attribute.String("retry.result", "success"),
		attribute.String("ratelimiter.name", "api"),
		attribute.String("ratelimiter.result", "rejected"),
		attribute.String("circuitbreaker.name", "ledger"),
		attribute.String("circuitbreaker.state", "open"),
	}, s.Attributes)
}

// Observe of a successful attempt, with its attribute sets seen before
// and no recording span, allocates nothing: with the real SDK.
func TestObserveAllocs(t *testing.T) {
	e := newEnv(t, resilienceotel.Config{Keys: true})
	// A remote parent, sampled out: a valid span context that does not
	// record.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true,
	}))
	require.False(t, trace.SpanFromContext(ctx).IsRecording())
	ev := resilience.Event{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Key: "k", Attempt: 1, Duration: time.Millisecond}
	e.obs.Observe(ctx, ev)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { e.obs.Observe(ctx, ev) }))
	failed := ev
	failed.Err = fmt.Errorf("x: %w", &resilience.StatusError{Code: 503})
	e.obs.Observe(ctx, failed)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { e.obs.Observe(ctx, failed) }), "a failure, classified without formatting")
}

func BenchmarkObserve(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   resilience.Event
	}{
		{"AttemptSuccess", resilience.Event{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 1, Duration: time.Millisecond}},
		{"AttemptFailure", resilience.Event{Kind: resilience.EventAttempt, Policy: "retry", Name: "ledger", Attempt: 1, Duration: time.Millisecond,
			Err: fmt.Errorf("x: %w", &resilience.StatusError{Code: 503})}},
		{"Reject", resilience.Event{Kind: resilience.EventReject, Policy: "breaker", Name: "ledger", Reason: "open", Err: fullError{}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, resilienceotel.Config{})
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.obs.Observe(ctx, bc.ev)
				}
			})
		})
	}
}

// Many goroutines observe events of many keys, past MaxCachedSets, while
// a reader collects: the counts add up (run with -race).
func TestObserveHammer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{Keys: true})
	const workers, perWorker = 8, 1000
	keys := resilienceotel.MaxCachedSets + 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			e.collect(t)
		}
	}()
	errc := make(chan struct{}, workers)
	for w := range workers {
		go func() {
			defer func() { errc <- struct{}{} }()
			for i := range perWorker {
				key := fmt.Sprint((w*perWorker + i) % keys)
				e.obs.Observe(context.Background(), resilience.Event{Kind: resilience.EventReject, Policy: "ratelimit", Key: key, Err: fullError{}})
			}
		}()
	}
	for range workers {
		<-errc
	}
	<-done
	var total int64
	for _, p := range e.metric(t, "resilience.events").Data.(metricdata.Sum[int64]).DataPoints {
		total += p.Value
	}
	assert.Equal(t, int64(workers*perWorker), total)
}

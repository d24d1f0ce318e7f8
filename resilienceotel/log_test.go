package resilienceotel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resilienceotel"
)

// lines parses the JSON lines of buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

// The events resilience.LogObserver logs with the context of a traced
// call carry its trace and span ids; others do not.
func TestLogHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	var buf bytes.Buffer
	log := slog.New(resilienceotel.LogHandler(slog.NewJSONHandler(&buf, nil)))
	obs := resilience.LogObserver(log, resilience.LogConfig{})

	ctx, span := e.tracer.Start(context.Background(), "call")
	sc := span.SpanContext()
	obs.Observe(ctx, resilience.Event{Kind: resilience.EventReject, Policy: "breaker", Name: "ledger", Reason: "open"})
	span.End()
	obs.Observe(context.Background(), resilience.Event{Kind: resilience.EventReject, Policy: "breaker", Name: "ledger", Reason: "open"})
	// A remote span context that does not record still has ids.
	remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xab, 1}, SpanID: trace.SpanID{0xcd, 2},
	}))
	log.With("svc", "payments").WithGroup("req").InfoContext(remote, "hello", "path", "/pay")
	log.Debug("not enabled")

	assert.Equal(t, []map[string]any{
		{"level": "WARN", "msg": "resilience: rejected", "policy": "breaker", "name": "ledger", "reason": "open",
			"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()},
		{"level": "WARN", "msg": "resilience: rejected", "policy": "breaker", "name": "ledger", "reason": "open"},
		{"level": "INFO", "msg": "hello", "svc": "payments", "req": map[string]any{
			"path": "/pay", "trace_id": "ab010000000000000000000000000000", "span_id": "cd02000000000000"}},
	}, lines(t, &buf))
	assert.Len(t, sc.TraceID().String(), 32)
}

func TestLogHandlerNil(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "resilienceotel: LogHandler with a nil slog.Handler", func() { resilienceotel.LogHandler(nil) })
}

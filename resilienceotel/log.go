package resilienceotel

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler returns a slog.Handler that hands every record to h, with
// the attributes trace_id and span_id (in hex, as W3C trace context writes
// them) added when the record's context holds a valid span context: the
// record was logged with a context of a traced call, as
// resilience.LogObserver logs each event with the event's context. A
// record without one reaches h as it is.
//
// The ids are added to the record as its other attributes are: inside the
// groups of the logger (Logger.WithGroup) if it has any. It panics if h is
// nil.
func LogHandler(h slog.Handler) slog.Handler {
	if h == nil {
		panic("resilienceotel: LogHandler with a nil slog.Handler")
	}
	return &logHandler{h: h}
}

type logHandler struct{ h slog.Handler }

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.h.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{h: l.h.WithAttrs(attrs)}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h: l.h.WithGroup(name)}
}

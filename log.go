package resilience

import (
	"context"
	"log/slog"
)

// LogConfig configures [LogObserver]. The zero value is ready to use.
type LogConfig struct {
	// Level says at which level an event is logged. Zero means
	// [Event.Level]: rejections and timeouts at Warn, state changes and
	// retries at Info, attempts at Debug.
	Level func(Event) slog.Level
}

// LogObserver returns an [Observer] that writes one record per event to l,
// at the event's level, when l is enabled for it (a Debug event costs one
// Enabled check on a logger at Info). The message is "resilience: " and the
// kind ("resilience: rejected"); the attributes are the event's fields that
// are set: policy, name, key, attempt, duration, reason, from, to, count and
// error.
//
// The record is logged with the event's context, so a handler that reads
// the context adds what it holds: the nested module resilienceotel has one
// that adds the trace and span ids of the active span (trace_id, span_id).
// LogObserver panics if l is nil.
func LogObserver(l *slog.Logger, c LogConfig) Observer {
	if l == nil {
		panic("resilience: LogObserver with a nil *slog.Logger")
	}
	level := c.Level
	if level == nil {
		level = Event.Level
	}
	return &logObserver{l: l, level: level}
}

type logObserver struct {
	l     *slog.Logger
	level func(Event) slog.Level
}

var logMessages = func() (m [eventKinds]string) {
	for k := EventKind(1); k < eventKinds; k++ {
		m[k] = "resilience: " + k.String()
	}
	return m
}()

func (o *logObserver) Observe(ctx context.Context, e Event) {
	lvl := o.level(e)
	if !o.l.Enabled(ctx, lvl) {
		return
	}
	msg := "resilience: " + e.Kind.String()
	if e.Kind > 0 && e.Kind < eventKinds {
		msg = logMessages[e.Kind]
	}
	var buf [10]slog.Attr
	a := append(buf[:0], slog.String("policy", e.Policy))
	if e.Name != "" {
		a = append(a, slog.String("name", e.Name))
	}
	if e.Key != "" {
		a = append(a, slog.String("key", e.Key))
	}
	if e.Attempt != 0 {
		a = append(a, slog.Int("attempt", e.Attempt))
	}
	if e.Duration != 0 {
		a = append(a, slog.Duration("duration", e.Duration))
	}
	if e.Reason != "" {
		a = append(a, slog.String("reason", e.Reason))
	}
	if e.From != "" || e.To != "" {
		a = append(a, slog.String("from", e.From), slog.String("to", e.To))
	}
	if e.Count != 0 {
		a = append(a, slog.Int("count", e.Count))
	}
	if e.Err != nil {
		a = append(a, slog.String("error", e.Err.Error()))
	}
	o.l.LogAttrs(ctx, lvl, msg, a...)
}

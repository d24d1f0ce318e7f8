package resilience_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
)

func TestObservers(t *testing.T) {
	t.Parallel()
	assert.Nil(t, resilience.Observers())
	assert.Nil(t, resilience.Observers(nil, nil))
	a, b := &observetest.Log{}, &observetest.Log{}
	assert.Same(t, a, resilience.Observers(nil, a))
	both := resilience.Observers(a, nil, b)
	nested := resilience.Observers(both, a)
	e := resilience.Event{Kind: resilience.EventRetry, Policy: "retry", Attempt: 2}
	nested.Observe(context.Background(), e)
	assert.Equal(t, []resilience.Event{e, e}, a.Events())
	assert.Equal(t, []resilience.Event{e}, b.Events())
	var typedNil *observetest.Log
	assert.PanicsWithValue(t, "resilience: Observers with a nil *observetest.Log", func() {
		resilience.Observers(a, typedNil)
	})
	var n int
	f := resilience.ObserverFunc(func(context.Context, resilience.Event) { n++ })
	f.Observe(context.Background(), e)
	assert.Equal(t, 1, n)
}

func TestEventKindString(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for k := resilience.EventAttempt; k <= resilience.EventRedrive; k++ {
		s := k.String()
		assert.NotContains(t, s, "EventKind", "kind %d has no name", k)
		assert.False(t, seen[s], "two kinds are named %q", s)
		seen[s] = true
	}
	assert.Equal(t, "EventKind(0)", resilience.EventKind(0).String())
	assert.Equal(t, "EventKind(200)", resilience.EventKind(200).String())
	assert.Equal(t, "state_change", resilience.EventStateChange.String())
}

func TestEventLevel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		e    resilience.Event
		want slog.Level
	}{
		{resilience.Event{Kind: resilience.EventReject}, slog.LevelWarn},
		{resilience.Event{Kind: resilience.EventTimeout}, slog.LevelWarn},
		{resilience.Event{Kind: resilience.EventStateChange}, slog.LevelInfo},
		{resilience.Event{Kind: resilience.EventRetry}, slog.LevelInfo},
		{resilience.Event{Kind: resilience.EventAttempt}, slog.LevelDebug},
		{resilience.Event{Kind: resilience.EventAttempt, Err: errors.New("x")}, slog.LevelDebug},
		{resilience.Event{Kind: resilience.EventDone}, slog.LevelDebug},
		{resilience.Event{Kind: resilience.EventDone, Err: errors.New("x")}, slog.LevelWarn},
		{resilience.Event{Kind: resilience.EventCacheHit}, slog.LevelDebug},
		{resilience.Event{Kind: resilience.EventDeadLetter}, slog.LevelWarn},
		{resilience.Event{Kind: 0}, slog.LevelDebug},
	} {
		assert.Equal(t, c.want, c.e.Level(), "%v err=%v", c.e.Kind, c.e.Err)
	}
}

func TestLogObserver(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	o := resilience.LogObserver(l, resilience.LogConfig{})
	ctx := context.Background()
	o.Observe(ctx, resilience.Event{Kind: resilience.EventAttempt, Policy: "retry", Attempt: 1}) // Debug: not logged
	o.Observe(ctx, resilience.Event{Kind: resilience.EventStateChange, Policy: "breaker", Name: "ledger",
		Key: "ledger:443", From: "closed", To: "open", Err: errors.New("boom")})
	o.Observe(ctx, resilience.Event{Kind: resilience.EventReject, Policy: "bulkhead", Reason: "full",
		Duration: 5 * time.Millisecond, Err: errors.New("bulkhead: full")})
	o.Observe(ctx, resilience.Event{Kind: resilience.EventPublish, Policy: "outbox", Count: 3})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, buf.String())
	assert.Equal(t, `level=INFO msg="resilience: state_change" policy=breaker name=ledger key=ledger:443 from=closed to=open error=boom`, lines[0])
	assert.Equal(t, `level=WARN msg="resilience: rejected" policy=bulkhead duration=5ms reason=full error="bulkhead: full"`, lines[1])

	buf.Reset()
	all := resilience.LogObserver(l, resilience.LogConfig{Level: func(resilience.Event) slog.Level { return slog.LevelError }})
	all.Observe(ctx, resilience.Event{Kind: resilience.EventPublish, Policy: "outbox", Count: 3})
	assert.Equal(t, "level=ERROR msg=\"resilience: publish\" policy=outbox count=3\n", buf.String())

	assert.PanicsWithValue(t, "resilience: LogObserver with a nil *slog.Logger", func() {
		resilience.LogObserver(nil, resilience.LogConfig{})
	})
}

// A disabled level costs an Enabled check and nothing else.
func TestLogObserverDisabledAllocs(t *testing.T) {
	l := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o := resilience.LogObserver(l, resilience.LogConfig{})
	ctx := context.Background()
	e := resilience.Event{Kind: resilience.EventAttempt, Policy: "retry", Attempt: 1, Err: errors.New("x")}
	assert.Zero(t, testing.AllocsPerRun(100, func() { o.Observe(ctx, e) }))
}

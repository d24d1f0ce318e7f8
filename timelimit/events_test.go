package timelimit_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/timelimit"
)

// The events of a time limit of 1 s, in virtual time: a timeout carries
// the limit and the error Do returns; a late op is reported first, with
// how late it returned.
func TestEvents(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	timeout := func(err error) resilience.Event {
		return resilience.Event{Kind: resilience.EventTimeout, Policy: "timelimit", Name: "ledger", Duration: time.Second, Err: err}
	}
	tests := []struct {
		name     string
		grace    time.Duration
		op       func(ctx context.Context) error
		deadline time.Duration // the caller's, if not 0
		want     func(err error) []resilience.Event
	}{
		{"in time", 0, func(context.Context) error { time.Sleep(999 * time.Millisecond); return nil }, 0,
			func(error) []resilience.Event { return nil }},
		{"a failure in time", 0, func(context.Context) error { return boom }, 0,
			func(error) []resilience.Event { return nil }},
		{"expired: op honours its context", 0, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 0,
			func(err error) []resilience.Event { return []resilience.Event{timeout(err)} }},
		{"expired: op returns an error of its own", 0, func(ctx context.Context) error { <-ctx.Done(); return boom }, 0,
			func(err error) []resilience.Event { return []resilience.Event{timeout(err)} }},
		{"late", 0, func(context.Context) error { time.Sleep(3 * time.Second); return nil }, 0,
			func(err error) []resilience.Event {
				return []resilience.Event{
					{Kind: resilience.EventLate, Policy: "timelimit", Name: "ledger", Duration: 2 * time.Second},
					timeout(err),
				}
			}},
		{"late by less than the grace", 500 * time.Millisecond, func(context.Context) error { time.Sleep(1400 * time.Millisecond); return nil }, 0,
			func(err error) []resilience.Event { return []resilience.Event{timeout(err)} }},
		{"the caller's deadline first", 0, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 500 * time.Millisecond,
			func(error) []resilience.Event { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				l := timelimit.New(time.Second, timelimit.Config{Name: "ledger", Grace: tt.grace, Observer: rec})
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				err := l.Do(ctx, tt.op)
				assert.Equal(t, tt.want(err), rec.Events())
				for _, e := range rec.Events() {
					if e.Kind == resilience.EventTimeout {
						var te *timelimit.TimeoutError
						require.ErrorAs(t, err, &te)
						assert.Same(t, te, e.Err, "the very error Do returns")
					}
				}
			})
		})
	}
}

// The events come after the hooks, on the caller's goroutine with its
// context.
func TestEventsAfterHooks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var order []string
		l := timelimit.New(time.Second, timelimit.Config{
			OnLate:    func(context.Context, time.Duration) { order = append(order, "OnLate") },
			OnTimeout: func(context.Context, *timelimit.TimeoutError) { order = append(order, "OnTimeout") },
			Observer: resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
				order = append(order, e.Kind.String()+" "+ctx.Value(key{}).(string))
			}),
		})
		ctx := context.WithValue(t.Context(), key{}, "trace-1")
		_ = l.Do(ctx, func(context.Context) error { time.Sleep(2 * time.Second); return nil })
		assert.Equal(t, []string{"OnLate", "late trace-1", "OnTimeout", "timeout trace-1"}, order)
	})
}

// Outside a synctest bubble, where a TimeLimit queues its calls rather
// than use context.WithTimeoutCause, a timeout is reported the same way.
// (In real time: a long Grace, so that a busy machine does not make the
// op late.)
func TestEventsOfQueuedCalls(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	l := timelimit.New(time.Millisecond, timelimit.Config{Observer: rec, Grace: time.Hour})
	err := l.Do(context.Background(), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	require.ErrorIs(t, err, timelimit.ErrTimeout)
	assert.Equal(t, []resilience.Event{{Kind: resilience.EventTimeout, Policy: "timelimit", Duration: time.Millisecond, Err: err}}, rec.Events())
	require.NoError(t, l.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Len(t, rec.Events(), 1, "a call in time reports nothing")
}

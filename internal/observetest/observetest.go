// Package observetest holds the recording resilience.Observer that the
// tests of the policies and the outbox's conformance suite share, so that
// each asserts on the events a policy fired, and on their contexts,
// without a recorder of its own.
package observetest

import (
	"context"
	"slices"
	"sync"

	"github.com/resiliencekit/resilience"
)

// A Log is a resilience.Observer that records every event it gets, with
// its context, in the order Observe was called. Its zero value is ready to
// use; it is safe for concurrent use and must not be copied once used. It
// keeps what it records until Take, so it is for tests, not for a
// long-running process.
type Log struct {
	// On, when set, is called first from Observe, before the event is
	// recorded and without the Log's lock held: a test's way to call back
	// into the policy, or to look at the moment an event is fired. Set it
	// before the Log gets its first event.
	On func(ctx context.Context, e resilience.Event)

	mu     sync.Mutex
	events []resilience.Event
	ctxs   []context.Context
}

// Observe calls On, if set, and then records e and ctx.
func (l *Log) Observe(ctx context.Context, e resilience.Event) {
	if l.On != nil {
		l.On(ctx, e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	l.ctxs = append(l.ctxs, ctx)
}

// Take returns the events recorded since the last Take (since the Log was
// made, at first) and their contexts, the i-th context that of the i-th
// event, and forgets them. Both are nil when there are none.
func (l *Log) Take() ([]resilience.Event, []context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	events, ctxs := l.events, l.ctxs
	l.events, l.ctxs = nil, nil
	return events, ctxs
}

// TakeEvents is Take without the contexts.
func (l *Log) TakeEvents() []resilience.Event {
	events, _ := l.Take()
	return events
}

// Events returns a copy of the events recorded since the last Take, and
// keeps them: a later Events or Take returns them again. It is nil when
// there are none.
func (l *Log) Events() []resilience.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Of returns the events of the given kind among those recorded since the
// last Take, in order, and keeps them all, as Events does. It is nil when
// there are none.
func (l *Log) Of(kind resilience.EventKind) []resilience.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []resilience.Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

package outboxtest

import (
	"context"
	"sync"

	"github.com/resiliencekit/resilience"
)

// observed is a resilience.Observer that keeps every event, for the tests
// that check what a relay and an outbox report.
type observed struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (o *observed) Observe(_ context.Context, e resilience.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

// of returns the events of kind so far.
func (o *observed) of(kind resilience.EventKind) []resilience.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []resilience.Event
	for _, e := range o.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// published returns the sum of the Counts of the EventPublish so far.
func (o *observed) published() int {
	n := 0
	for _, e := range o.of(resilience.EventPublish) {
		n += e.Count
	}
	return n
}

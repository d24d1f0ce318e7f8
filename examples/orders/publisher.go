package main

import (
	"context"
	"errors"

	"github.com/resiliencekit/resilience/outbox"
)

// errHiccup is the broker failure the example injects.
var errHiccup = errors.New("broker hiccup (simulated)")

// tellingPublisher wraps the relay's publisher (outbox/nats) to print what
// the relay publishes, and fails the first attempt to publish the order
// flaky, to show the relay backing off and trying again.
type tellingPublisher struct {
	next  outbox.Publisher
	out   *logger
	flaky string // the key of the order whose first attempt fails
}

// Publish implements outbox.Publisher. It keeps the publisher contract: a
// message that fails holds back the later messages of its key in the
// call (reported with outbox.ErrNotSent).
func (p *tellingPublisher) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	var send []outbox.Message
	var at []int // index in msgs of each message of send
	failed := map[string]bool{}
	for i, m := range msgs {
		switch {
		case failed[m.Key]:
			errs[i] = outbox.ErrNotSent
		case m.Key == p.flaky && m.Attempts == 0:
			errs[i] = errHiccup
			failed[m.Key] = true
		default:
			send = append(send, m)
			at = append(at, i)
		}
	}
	sendErrs := make([]error, len(send))
	if len(send) > 0 {
		p.next.Publish(ctx, send, sendErrs)
	}
	for j, i := range at {
		errs[i] = sendErrs[j]
	}
	for i, m := range msgs {
		switch {
		case errs[i] == nil && m.Attempts > 0:
			p.out.printf("relay:   published %s of order %s to %s, after %d failed attempt(s)", m.Headers["Event-Type"], m.Key, m.Topic, m.Attempts)
		case errs[i] == nil:
			p.out.printf("relay:   published %s of order %s to %s", m.Headers["Event-Type"], m.Key, m.Topic)
		case !errors.Is(errs[i], outbox.ErrNotSent):
			p.out.printf("relay:   publishing order %s failed: %v; the relay backs off and tries again", m.Key, errs[i])
		}
	}
}

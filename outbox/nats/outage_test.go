package nats_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
)

// TestBrokerOutage runs a small relay loop against a private server that is
// stopped for a while mid-run and started again on the same port and data
// directory: nothing is lost, per-key order holds, the backlog drains.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	ps := startPrivate(t)
	nc := ps.connect()
	stream := privateStream(t, nc)
	p := newPublisher(t, nc, nats.Config{AckTimeout: 500 * time.Millisecond})

	msgs := keyed(stream, 20, 60)
	pending := append([]outbox.Message(nil), msgs...)
	var outage sync.WaitGroup
	var failures = map[error]int{}
	delivered, outageStarted := 0, false
	deadline := time.Now().Add(2 * time.Minute)
	for len(pending) > 0 {
		require.True(t, time.Now().Before(deadline), "backlog did not drain: %d left", len(pending))
		if !outageStarted && delivered >= len(msgs)/3 {
			outageStarted = true
			ps.stop()
			outage.Go(func() {
				time.Sleep(1500 * time.Millisecond)
				ps.start()
			})
		}
		batch := pending[:min(len(pending), 100)]
		errs := make([]error, len(batch))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.Publish(ctx, batch, errs)
		cancel()
		var left []outbox.Message
		failed := false
		for i, err := range errs {
			if err == nil {
				delivered++
				continue
			}
			left = append(left, batch[i])
			if !errors.Is(err, outbox.ErrNotSent) && !errors.Is(err, nats.ErrUnavailable) {
				t.Logf("failure: %v", err)
			}
			for _, kind := range []error{nats.ErrUnavailable, nats.ErrTimeout, nats.ErrRejected, outbox.ErrNotSent} {
				if errors.Is(err, kind) {
					failures[kind]++
					break
				}
			}
			failed = true
		}
		pending = append(left, pending[len(batch):]...)
		if failed {
			time.Sleep(20 * time.Millisecond) // a relay backs off
		}
	}
	outage.Wait()
	t.Logf("failures during the outage: %v", failures)
	assert.Positive(t, failures[nats.ErrUnavailable]+failures[nats.ErrTimeout], "the outage was not noticed")

	got := readStream(t, nc, stream)
	checkOrder(t, msgs, got)
}

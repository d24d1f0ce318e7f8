package outbox

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAckWaitsForTheDatabase: a database that makes the acknowledgement
// wait 9 s for its lock (just under outbox/sqlite's 10 s busy timeout),
// with a lease of 2 s (the crash test's). The ack is given the time:
// each message is published once. Before, every ack was cut off at the
// lease TTL, so the batch was claimed and published again, forever.
func TestAckWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 5)...)
		st.ackWait = 9 * time.Second
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{LeaseTTL: 2 * time.Second, PollInterval: 100 * time.Millisecond})
		stop := start(r)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, payloadsOf(keyed("a", 5)), payloadsOf(pub.Messages()), "published once")
		assert.Zero(t, st.waiting())
		assert.Zero(t, r.Metrics().StoreErrors, "no ack timed out")
	})
}

// TestAckTimeoutsKeepProgress: acknowledgements that time out, again and
// again for longer than the lease TTL, are retried with the same
// outcomes until one is recorded: the published batch is not published
// again. Before, the relay gave the outcomes up after a lease TTL and
// claimed (and published) the batch again.
func TestAckTimeoutsKeepProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 5)...)
		timedOut := fmt.Errorf("outbox: ack: %w", context.DeadlineExceeded)
		for range 12 { // 20 ms doubling up to 1 s: about 8 s of retries
			st.ackErr = append(st.ackErr, timedOut)
		}
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{LeaseTTL: 2 * time.Second, PollInterval: 100 * time.Millisecond})
		stop := start(r)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, payloadsOf(keyed("a", 5)), payloadsOf(pub.Messages()), "published once")
		assert.Zero(t, st.waiting())
		assert.EqualValues(t, 1, r.Metrics().Batches, "one batch claimed")
		assert.EqualValues(t, 12, r.Metrics().StoreErrors)
	})
}

// TestAckAfterShutdown: when Run's context ends while an acknowledgement
// keeps failing, the relay retries it for ShutdownTimeout more, then Run
// returns (the batch is published again by the next relay: nothing is
// lost).
func TestAckAfterShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 5)...)
		for range 1000 {
			st.ackErr = append(st.ackErr, errDB)
		}
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{ShutdownTimeout: 3 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Len(t, pub.Messages(), 5)
		cancel()
		stopped := time.Now()
		require.NoError(t, <-done)
		took := time.Since(stopped)
		assert.GreaterOrEqual(t, took, 2*time.Second, "retried after the stop")
		assert.LessOrEqual(t, took, 3*time.Second+DefaultAckTimeout, "within ShutdownTimeout (and one attempt)")
	})
}

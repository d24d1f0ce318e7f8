package outbox

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// TestAckFenced: a relay whose key was taken over while it published (it
// was paused for longer than its lease) records nothing of that key: the
// failure it met does not dead-letter a message the other relay is
// responsible for, and is counted as Fenced, not as a dead letter.
func TestAckFenced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 2)...)
		st.add(keyed("b", 1)...)
		pub := NewMemoryPublisher()
		pub.SetFailure(func(m Message) error {
			if m.Key != "a" {
				return nil
			}
			// Another relay takes key a over meanwhile.
			st.mu.Lock()
			l := st.leases["a"]
			l.owner = "other"
			st.leases["a"] = l
			st.mu.Unlock()
			return resilience.Permanent(errors.New("rejected"))
		})
		rec := &observetest.Log{}
		r := newRelay(st, pub, RelayConfig{Observer: rec})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)

		m := r.Metrics()
		assert.EqualValues(t, 2, m.Fenced, "both outcomes of key a")
		assert.Zero(t, m.DeadLettered)
		assert.Empty(t, st.deadLetters())
		assert.Empty(t, rec.Of(resilience.EventDeadLetter))
		assert.Equal(t, 2, st.waiting(), "a's rows are left to the relay that holds them")
		assert.EqualValues(t, 1, m.Published)
	})
}

package bulkhead

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

// TestPermitHandedToLeavingWaiter forces the race that the public tests can
// only hope for: a waiter's context ends, and before the waiter gets the
// lock to leave the queue, a release hands it a permit. The waiter must pass
// the permit on, not keep it and not lose it.
func TestPermitHandedToLeavingWaiter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(1, Config{MaxQueue: 2, MaxWait: resilience.Forever})
		held, err := b.acquire(t.Context()) // the permit a call holds
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(t.Context())
		leaving := make(chan error, 1)
		go func() {
			leaving <- b.Do(ctx, func(context.Context) error {
				t.Error("op of a caller that gave up ran")
				return nil
			})
		}()
		synctest.Wait()
		next := make(chan error, 1)
		go func() { next <- b.Do(t.Context(), func(context.Context) error { return nil }) }()
		synctest.Wait() // both queued, the leaving one first

		b.mu.Lock()
		cancel() // wakes the first waiter, which now waits for b.mu
		// What release does, while the waiter cannot yet leave the queue:
		held.inflight.Add(-1)
		b.dispatch()
		assert.Equal(t, 1, b.queue.len, "the first waiter was handed the permit")
		b.mu.Unlock()

		assert.Equal(t, context.Canceled, <-leaving)
		require.NoError(t, <-next, "the permit went on to the next waiter")
		assert.Equal(t, Metrics{Limit: 1}, b.Metrics())
	})
}

// TestEvictedBulkhead checks what a call finds when a Group drops the
// bulkhead it just looked up: no permit, and errEvicted so that the Group
// looks the key up again.
func TestEvictedBulkhead(t *testing.T) {
	t.Parallel()
	g := NewGroup(2, GroupConfig{MaxKeys: 1})
	old := g.get("a")
	require.NotNil(t, old)
	require.NoError(t, g.Do(t.Context(), func(context.Context) error { return nil }), "key \"\" evicts \"a\"")
	_, ok := g.Metrics("a")
	assert.False(t, ok)

	_, err := old.acquire(t.Context())
	assert.Equal(t, errEvicted, err)
	assert.Equal(t, Metrics{Limit: 2}, old.Metrics())
	assert.True(t, old.Saturated(), "an evicted bulkhead admits nothing")
	assert.False(t, old.evict(), "already evicted")

	// A busy bulkhead cannot be evicted.
	b := New(1, Config{})
	s, err := b.acquire(t.Context())
	require.NoError(t, err)
	assert.False(t, b.evict())
	assert.False(t, b.evicted.Load(), "rolled back")
	b.release(s)
	assert.True(t, b.evict())
}

func TestPermitShards(t *testing.T) {
	t.Parallel()
	p := permits{shards: make([]shard, 3)}
	p.mult.Store(golden)
	p.setLimit(5)
	assert.Equal(t, []int64{2, 2, 1}, []int64{p.shards[0].limit.Load(), p.shards[1].limit.Load(), p.shards[2].limit.Load()})

	// The home shard first, then the others: the limit is exact. One
	// goroutine keeps to one home shard.
	var home *shard
	take := func() *shard {
		s, h := p.take()
		if home == nil {
			home = h
		}
		assert.Same(t, home, h)
		return s
	}
	var got []*shard
	for range 5 {
		s := take()
		require.NotNil(t, s)
		got = append(got, s)
	}
	assert.Same(t, home, got[0], "home shard first")
	assert.Nil(t, take())
	assert.Equal(t, 5, p.inFlight())

	p.setLimit(1) // lowering it leaves calls in flight alone
	assert.Nil(t, take())
	for _, s := range got {
		s.inflight.Add(-1)
	}
	assert.NotNil(t, take())
	assert.Nil(t, take())

	// seal marks all shards or none.
	assert.False(t, p.seal())
	for i := range p.shards {
		assert.Less(t, p.shards[i].inflight.Load(), int64(2), "rolled back")
	}
	q := permits{shards: make([]shard, 2)}
	q.setLimit(2)
	require.True(t, q.seal())
	assert.Nil(t, q.takeAny(nil))
	assert.Equal(t, 0, q.inFlight())
}

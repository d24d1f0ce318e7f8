package outboxbench_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

// TestTwoRelays: two relays publish one PostgreSQL outbox to JetStream at
// once, 10,000 messages over 100 keys, half of them waiting when they
// start and half added while they run. Both do a fair part of the work,
// never publish messages of one key at the same time, publish nothing
// twice, and per-key order holds at the consumer.
func TestTwoRelays(t *testing.T) {
	t.Parallel()
	db, _ := pgDB(t)
	nc, _ := sharedNATS(t)
	stream := newStream(t, nc, true, nil)
	subject := stream + ".orders"
	ob := newOutbox(t, db)

	const keys, per = 100, 100
	for i := range per / 2 {
		addTx(t, ob, round(subject, keys, i)...)
	}
	pub := nats.New(nc, nats.Config{Stream: stream})
	t.Cleanup(func() { pub.Close() })
	pubs, overlaps := counting(pub, 2)
	relays := make([]*outbox.Relay, 2)
	for i := range relays {
		relays[i] = outbox.NewRelay(ob, pubs[i], outbox.RelayConfig{PollInterval: 20 * time.Millisecond})
		start(t, relays[i].Run)
	}
	for i := per / 2; i < per; i++ {
		addTx(t, ob, round(subject, keys, i)...)
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, time.Minute, func() bool { return backlog(t, ob) == 0 }, "the backlog does not drain")

	got := consumeAll(t, nc, stream)
	rep := outboxtest.CheckOrder(got.Payloads, want(keys, per))
	assert.Empty(t, rep.Missing, "nothing lost")
	assert.Empty(t, rep.Reordered, "per-key order")
	assert.Empty(t, rep.Unknown)
	assert.Zero(t, rep.Duplicates, "nothing published twice in normal operation")
	assert.Empty(t, overlaps(), "no key published by both relays at once")
	_, _, a0 := pubs[0].counts()
	_, _, a1 := pubs[1].counts()
	assert.Equal(t, keys*per, a0+a1, "every message acknowledged once")
	for i, a := range []int{a0, a1} {
		assert.GreaterOrEqual(t, a, keys*per/10, "relay %d did %d of %d", i, a, keys*per)
	}
	m0, m1 := relays[0].Metrics(), relays[1].Metrics()
	require.Equal(t, uint64(a0), m0.Published)
	t.Logf("relay 0 published %d in %d batches, relay 1 %d in %d batches", m0.Published, m0.Batches, m1.Published, m1.Batches)
}

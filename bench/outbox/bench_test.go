package outboxbench_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// The shape of the benchmark messages, the same for every implementation.
const (
	benchKeys    = 100
	benchPayload = 256
	fillTx       = 1000 // messages per transaction when filling a backlog
)

// BenchmarkOutboxRelayNATS measures how fast a backlog of b.N messages
// (100 keys, 256-byte payloads) goes from a PostgreSQL outbox table into a
// JetStream stream (file storage) of the machine's servers: from the start
// of the relay until the stream holds every message, acknowledged by
// PubAcks. ns/op is per message; msgs/s is the figure to read.
//
// The peer is watermill's SQL forwarder (watermill-sql's PostgreSQL
// subscriber, the forwarder component, watermill-nats's JetStream
// publisher with Nats-Msg-Id) with the same batch size, on the same
// servers. Run it with a fixed count so both move the same messages:
// -benchtime 20000x.
func BenchmarkOutboxRelayNATS(b *testing.B) {
	for _, batch := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("postgres-batch%d/resilience", batch), func(b *testing.B) { benchRelay(b, batch) })
		b.Run(fmt.Sprintf("postgres-batch%d/watermill", batch), func(b *testing.B) { benchWatermill(b, batch) })
	}
}

func benchRelay(b *testing.B, batch int) { benchRelays(b, benchKeys, 1, batch) }

// BenchmarkOutboxRelayCurve is the relay's throughput against the number
// of keys and of relays sharing the outbox (batch 100, 256-byte payloads,
// PostgreSQL to JetStream as BenchmarkOutboxRelayNATS): each relay holds
// the keys it claims, so few keys serialize the relays, many spread them.
// Run it with -benchtime 20000x.
func BenchmarkOutboxRelayCurve(b *testing.B) {
	for _, keys := range []int{10, 100, 10000} {
		for _, relays := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("keys%d/relays%d", keys, relays), func(b *testing.B) { benchRelays(b, keys, relays, 100) })
		}
	}
}

// benchRelays moves a backlog of b.N messages over keys keys with relays
// relays claiming batch messages at a time.
func benchRelays(b *testing.B, keys, relays, batch int) {
	db, _ := pgDB(b)
	nc, _ := sharedNATS(b)
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	stream := newStream(b, nc, true, nil)
	ob := newOutbox(b, db)
	subject := stream + ".orders"
	payload := make([]byte, benchPayload)
	for start := 0; start < b.N; start += fillTx {
		msgs := make([]outbox.Message, 0, fillTx)
		for i := start; i < min(start+fillTx, b.N); i++ {
			msgs = append(msgs, outbox.Message{Topic: subject, Key: fmt.Sprintf("key%05d", i%keys), Payload: payload})
		}
		addTx(b, ob, msgs...)
	}
	pub := nats.New(nc, nats.Config{Stream: stream})
	defer pub.Close()
	b.ResetTimer()
	t0 := time.Now()
	var stops []func()
	for range relays {
		r := outbox.NewRelay(ob, pub, outbox.RelayConfig{BatchSize: batch, PollInterval: 10 * time.Millisecond})
		stops = append(stops, goRun(r.Run))
	}
	waitStream(b, js, stream, b.N, 5*time.Minute)
	elapsed := time.Since(t0)
	b.StopTimer()
	for _, stop := range stops {
		stop()
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

func benchWatermill(b *testing.B, batch int) {
	db, _ := pgDB(b)
	nc, url := sharedNATS(b)
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	stream := newStream(b, nc, true, nil)
	w := newWMOutbox(b, db, batch)
	subject := stream + ".orders"
	for start := 0; start < b.N; start += fillTx {
		w.add(b, subject, wmMessages(min(fillTx, b.N-start), benchKeys, benchPayload)...)
	}
	b.ResetTimer()
	t0 := time.Now()
	stop := w.run(b, url, 10*time.Millisecond)
	waitStream(b, js, stream, b.N, 5*time.Minute)
	elapsed := time.Since(t0)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkOutboxLatencyNATS measures commit-to-consume latency, one
// message at a time: from just before the transaction's Commit to the
// moment a JetStream consumer (an ordered push consumer on the stream)
// receives the message. Messages are committed at random moments (0-100 ms
// apart), so a polling relay is caught anywhere in its sleep. Modes:
// notify, the relay woken by LISTEN/NOTIFY (polling every 5 s as a
// fallback); poll100ms, polling only, every 100 ms; the peer is watermill's
// forwarder polling every 100 ms. It reports the median and the 99th
// percentile; ns/op is the mean of one add, commit and wait for the
// consumer, the pauses left out. Run it with -benchtime 300x or so.
func BenchmarkOutboxLatencyNATS(b *testing.B) {
	for _, mode := range []string{"notify", "poll100ms"} {
		b.Run(mode+"/resilience", func(b *testing.B) { benchLatency(b, mode) })
	}
	b.Run("poll100ms/watermill", benchLatencyWatermill)
}

func benchLatency(b *testing.B, mode string) {
	db, dsn := pgDB(b)
	nc, _ := sharedNATS(b)
	stream := newStream(b, nc, true, nil)
	got := consumer(b, nc, stream)
	ob := newOutbox(b, db)
	pub := nats.New(nc, nats.Config{Stream: stream})
	b.Cleanup(func() { pub.Close() })
	c := outbox.RelayConfig{PollInterval: 100 * time.Millisecond}
	if mode == "notify" {
		n := postgres.NewNotifier(dsn, ob.Table(), postgres.NotifierConfig{})
		start(b, n.Run)
		listening(b, n)
		c = outbox.RelayConfig{Notifier: n, PollInterval: 5 * time.Second}
	}
	start(b, outbox.NewRelay(ob, pub, c).Run)
	time.Sleep(50 * time.Millisecond)
	subject := stream + ".orders"
	ctx := context.Background()
	measure(b, got, func() time.Time {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(b, err)
		require.NoError(b, ob.Add(ctx, tx, outbox.Message{Topic: subject, Key: "k", Payload: make([]byte, benchPayload)}))
		return commit(b, tx)
	})
}

func benchLatencyWatermill(b *testing.B) {
	db, _ := pgDB(b)
	nc, url := sharedNATS(b)
	stream := newStream(b, nc, true, nil)
	got := consumer(b, nc, stream)
	w := newWMOutbox(b, db, 100)
	b.Cleanup(w.run(b, url, 100*time.Millisecond))
	time.Sleep(50 * time.Millisecond)
	subject := stream + ".orders"
	ctx := context.Background()
	measure(b, got, func() time.Time {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(b, err)
		w.addIn(b, tx, subject, wmMessages(1, 1, benchPayload)...)
		return commit(b, tx)
	})
}

// commit commits tx and returns when it started to.
func commit(b *testing.B, tx *sql.Tx) time.Time {
	t0 := time.Now()
	require.NoError(b, tx.Commit())
	return t0
}

// measure runs b.N times: a random pause, then add (which adds one message
// and commits, returning when the commit started), then waits for the
// consumer; it reports the median and 99th percentile of commit-to-consume
// latency.
func measure(b *testing.B, got <-chan time.Time, add func() time.Time) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(rand.N(100 * time.Millisecond))
		b.StartTimer()
		t0 := add()
		select {
		case at := <-got:
			lat = append(lat, at.Sub(t0))
		case <-time.After(30 * time.Second):
			b.Fatal("no message at the consumer after 30 s")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// consumer starts an ordered push consumer on the stream that sends the
// time each message arrives; stopped with the test.
func consumer(b *testing.B, nc *natsgo.Conn, stream string) <-chan time.Time {
	b.Helper()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(b, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(b, err)
	got := make(chan time.Time, 16)
	cc, err := cons.Consume(func(m jetstream.Msg) { got <- time.Now() })
	require.NoError(b, err)
	b.Cleanup(cc.Stop)
	return got
}

// listening subscribes to n and waits for the wake-up Run sends once it
// listens.
func listening(t testing.TB, n *postgres.Notifier) {
	t.Helper()
	c, cancel := n.Subscribe()
	defer cancel()
	select {
	case <-c:
	case <-time.After(20 * time.Second):
		t.Fatal("the notifier does not listen")
	}
}

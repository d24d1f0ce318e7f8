package outboxbench_test

import (
	"context"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// The environment of a crash child: a relay process publishing an outbox
// table to a JetStream stream.
const (
	envChild  = "OUTBOXBENCH_CHILD"
	envDSN    = "OUTBOXBENCH_DSN"
	envTable  = "OUTBOXBENCH_TABLE"
	envNATS   = "OUTBOXBENCH_NATS"
	envStream = "OUTBOXBENCH_STREAM"
)

// crashKills bounds the kills of a crash test.
const crashKills = 40

// crashChild runs a crash child's relay and exits, when the environment
// says this process is one; otherwise it returns at once.
func crashChild() {
	outboxtest.RunIfChild(envChild, func() error {
		return runChild(os.Getenv(envDSN), os.Getenv(envTable), os.Getenv(envNATS), os.Getenv(envStream))
	})
}

func runChild(dsn, table, url, stream string) error {
	db, err := postgres.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	nc, err := natsgo.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	pub := nats.New(nc, nats.Config{Stream: stream})
	defer pub.Close()
	ob := outbox.New(db, outbox.Config{Dialect: outbox.Postgres, Table: table})
	// A child stops by itself in case its parent could not kill it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := outbox.NewRelay(ob, pub, outboxtest.CrashRelayConfig())
	return r.Run(ctx)
}

func startChild(t *testing.T, env ...string) *outboxtest.Process {
	t.Helper()
	return outboxtest.StartChild(t, envChild, env...)
}

// TestCrashAtBroker: two relay processes publish 20,000 messages over 100
// keys from PostgreSQL to JetStream while a writer adds them; each is
// killed with SIGKILL at random moments (40 kills in all) and restarted.
// At a JetStream consumer every message arrived at least once and per-key
// order holds (ignoring duplicates). JetStream drops the republished
// messages it already stored (Nats-Msg-Id, within its two-minute window);
// the test reports how many duplicates the relays sent and how many
// remained in the stream.
func TestCrashAtBroker(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	db, dsn := pgDB(t)
	nc, url := sharedNATS(t)
	stream := newStream(t, nc, true, nil)
	subject := stream + ".orders"
	ob := newOutbox(t, db)

	// Every message the broker receives, duplicates included: a core
	// subscription sees what the relays sent, before the stream's
	// deduplication.
	var sent atomic.Int64
	sub, err := nc.Subscribe(subject, func(*natsgo.Msg) { sent.Add(1) })
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())

	const total, keys = 20000, 100
	const per = total / keys
	writeErr := make(chan error, 1)
	go func() {
		for i := range per {
			if err := addRetrying(ob, round(subject, keys, i)); err != nil {
				writeErr <- err
				return
			}
			// Spread the writes over about six seconds, so that the
			// relays are killed while messages flow.
			time.Sleep(6 * time.Second / per)
		}
		writeErr <- nil
	}()

	env := []string{envDSN + "=" + dsn, envTable + "=" + ob.Table(), envNATS + "=" + url, envStream + "=" + stream}
	var logs []string
	children := []*outboxtest.Process{startChild(t, env...), startChild(t, env...)}
	defer func() {
		for _, c := range children {
			logs = append(logs, c.Kill())
		}
		if t.Failed() {
			for _, l := range logs {
				t.Log(l)
			}
		}
	}()
	// Each child is killed at a random moment between 0.3 s and 1 s after
	// it started, until crashKills kills; then they drain the backlog.
	killAt := func() time.Time { return time.Now().Add(time.Duration(300+rand.IntN(700)) * time.Millisecond) }
	due := []time.Time{killAt(), killAt()}
	kills, writing := 0, true
	deadline := time.Now().Add(2 * time.Minute)
	for {
		time.Sleep(20 * time.Millisecond)
		if writing {
			select {
			case err := <-writeErr:
				require.NoError(t, err)
				writing = false
			default:
			}
		}
		if !writing && backlog(t, ob) == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "backlog did not drain: %d left", backlog(t, ob))
		for i := range children {
			if kills < crashKills && time.Now().After(due[i]) {
				logs = append(logs, children[i].Kill())
				kills++
				children[i] = startChild(t, env...)
				due[i] = killAt()
			}
		}
	}

	got := consumeAll(t, nc, stream)
	rep := outboxtest.CheckOrder(got.Payloads, want(keys, per))
	assert.Empty(t, rep.Missing, "at least once")
	assert.Empty(t, rep.Reordered, "per-key order")
	assert.Empty(t, rep.Unknown)
	assert.Equal(t, total, rep.Unique)
	// A killed relay sends again at most the batch it had in flight.
	assert.LessOrEqual(t, rep.Duplicates, kills*outboxtest.CrashBatch, "duplicates only from crash windows")
	require.NoError(t, nc.Flush())
	t.Logf("%d messages, %d kills: the relays sent %d duplicates, %d remained in the stream after JetStream's deduplication",
		total, kills, sent.Load()-int64(total), rep.Duplicates)
}

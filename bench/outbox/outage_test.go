package outboxbench_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/nats/embedded"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

// The relay's default breaker, as RelayConfig.Breaker documents it: it
// opens after 5 failed publish calls in a row, for 1 s growing (×2) to
// 5 s, each open period shortened by up to 20 % of jitter.
const (
	breakerFailures = 5
	breakerOpen     = time.Second
	breakerMaxOpen  = 5 * time.Second
	breakerJitter   = 0.2

	outageFor = 30 * time.Second

	// drainWithin bounds the time from the restart to an empty backlog:
	// the breaker's next probe (at most one open period) and a few
	// seconds to publish what piled up. Failures during the outage
	// delay no message (they match outbox.ErrUnavailable), so nothing
	// waits out a backoff of its own after it.
	drainWithin = breakerMaxOpen + 5*time.Second
)

// maxProbes is the most probes the default breaker lets through in d once
// open: one per open period, each as short as its jitter allows.
func maxProbes(d time.Duration) int {
	n := 0
	open := breakerOpen
	for t := time.Duration(0); ; n++ {
		t += time.Duration(float64(open) * (1 - breakerJitter))
		if t > d {
			return n
		}
		open = min(2*open, breakerMaxOpen)
	}
}

// TestBrokerOutage: a relay publishes from PostgreSQL to a private
// embedded NATS server while a writer keeps adding messages; the server is
// stopped for 30 s mid-run and started again on the same port and data
// directory. Nothing is lost, per-key order holds at the consumer
// (ignoring duplicates), nothing is dead-lettered, no attempt is counted
// against a message for the outage, the backlog drains within seconds of
// the restart, and the relay's breaker bounds the publish calls made while
// the broker was down.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("30 s broker outage skipped in -short mode")
	}
	db, _ := pgDB(t)
	ob := newOutbox(t, db)
	ps := startPrivate(t)
	nc := natsConn(t, ps.url())
	stream := newStream(t, nc, false, nil)
	subject := stream + ".orders"

	pub := nats.New(nc, nats.Config{Stream: stream, AckTimeout: time.Second})
	t.Cleanup(func() { pub.Close() })
	pubs, overlaps := counting(pub, 1)
	relay := outbox.NewRelay(ob, pubs[0], outbox.RelayConfig{
		PollInterval: 50 * time.Millisecond, // everything else is the default
	})
	start(t, relay.Run)

	// The writer: a round of one message for each of 60 keys every
	// 300 ms, for about 36 s, so that messages keep coming during the
	// outage and after it.
	const keys, rounds = 60, 120
	writeErr := make(chan error, 1)
	go func() {
		for i := range rounds {
			if err := addRetrying(ob, round(subject, keys, i)); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		writeErr <- nil
	}()

	// The outage, once a tenth of the messages went through.
	eventually(t, 30*time.Second, func() bool {
		_, _, acked := pubs[0].counts()
		return acked >= keys*rounds/10
	}, "the relay does not publish")
	callsBefore, msgsBefore, ackedBefore := pubs[0].counts()
	ps.stop()
	stopped := time.Now()
	time.Sleep(outageFor)
	callsDuring, msgsDuring, _ := pubs[0].counts()
	var maxAttempts int
	require.NoError(t, db.QueryRow(`SELECT COALESCE(MAX(attempts), 0) FROM "`+ob.Table()+`"`).Scan(&maxAttempts))
	ps.start()
	restarted := time.Now()
	callsDuring -= callsBefore
	msgsDuring -= msgsBefore
	t.Logf("outage of %v after %d messages: %d publish calls (%d messages) reached the publisher; "+
		"a waiting message had failed at most %d times", restarted.Sub(stopped).Round(time.Millisecond),
		ackedBefore, callsDuring, msgsDuring, maxAttempts)

	require.NoError(t, <-writeErr)
	eventually(t, time.Minute, func() bool { return backlog(t, ob) == 0 }, "the backlog does not drain")
	drained := time.Since(restarted)
	t.Logf("backlog drained %v after the restart; relay metrics %+v", drained.Round(time.Millisecond), relay.Metrics())
	assert.Zero(t, maxAttempts, "the outage counts no attempt against a message")
	assert.LessOrEqual(t, drained, drainWithin, "the backlog drains as soon as the breaker closes")
	assert.Zero(t, relay.Metrics().Failed, "no failure but the broker's unavailability")
	assert.Positive(t, relay.Metrics().Unavailable)

	got := consumeAll(t, nc, stream)
	rep := outboxtest.CheckOrder(got.Payloads, want(keys, rounds))
	assert.Empty(t, rep.Missing, "nothing lost")
	assert.Empty(t, rep.Reordered, "per-key order")
	assert.Empty(t, rep.Unknown)
	assert.Equal(t, keys*rounds, rep.Unique)
	assert.Empty(t, overlaps())
	st, err := ob.Stats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, st.Dead, "nothing dead-lettered")
	// Bounded: the calls that open the breaker, then one probe per open
	// period (and one call in flight when the server stopped).
	bound := breakerFailures + maxProbes(outageFor) + 1
	assert.LessOrEqual(t, callsDuring, bound, "the breaker keeps the relay from hammering a broker that is down")
	t.Logf("%d messages, %d duplicates at the consumer, %d publish calls during the outage (bound %d)",
		keys*rounds, rep.Duplicates, callsDuring, bound)
}

// privateServer is an embedded NATS server of the test's own, which the
// test may stop and start again on the same port and data directory.
type privateServer struct {
	t    testing.TB
	dir  string
	port int
	srv  *embedded.Server
}

func startPrivate(t testing.TB) *privateServer {
	t.Helper()
	ps := &privateServer{t: t, dir: t.TempDir()}
	ps.start()
	t.Cleanup(ps.stop)
	return ps
}

func (ps *privateServer) start() {
	ps.t.Helper()
	srv, err := embedded.Start(embedded.Config{Port: ps.port, Dir: ps.dir})
	require.NoError(ps.t, err)
	ps.srv, ps.port = srv, srv.Port()
}

func (ps *privateServer) stop() {
	if ps.srv != nil {
		ps.srv.Shutdown()
		ps.srv = nil
	}
}

func (ps *privateServer) url() string { return "nats://127.0.0.1:" + itoa(ps.port) }

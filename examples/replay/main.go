// Command replay shows "log and replay", in one process, with nothing to
// install:
//
//	go run ./examples/replay
//
// A client sends usage records to a billing service through a circuit
// breaker. Billing goes down; after three failures the breaker opens and
// refuses the next requests before they leave. Those are not dropped: a
// fallback (package fallback, outside the breaker) writes each one into
// the client's outbox table, in a SQLite transaction, and answers the
// caller 202 Accepted ("accepted for replay"). The outbox's relay publishes
// the logged requests to NATS JetStream, and a worker consumes them and
// sends them again to billing once it is back.
//
// The worker replays through the same breaker, without the fallback: while
// billing is down the breaker holds the replays back (the worker hands
// each message back to JetStream for later), and the breaker's health
// check, not a flood of replays, finds out when billing is back. An Inbox
// in the worker's database makes a message that JetStream delivers twice
// (here because the worker "crashed" before its ack) replayed once, and an
// Idempotency-Key on every request lets billing recognize a request it has
// seen.
//
// SQLite (outbox/sqlite, pure Go) and the NATS server (outbox/nats/embedded)
// run inside the process, with their files in a temporary directory that
// the program removes when it ends.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/nats/embedded"
	"github.com/resiliencekit/resilience/outbox/sqlite"
)

func main() {
	if _, err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// outcome is how the story ended, for the test.
type outcome struct {
	// accepted holds the usage records the client was told were accepted
	// for replay.
	accepted []string
	// received holds the Idempotency-Key of every request billing
	// accepted, in arrival order, duplicates included.
	received []string
	// skipped counts the redeliveries the worker skipped.
	skipped int64
}

// run tells the story to w. Everything it starts, it stops before it
// returns: servers, goroutines, databases, and the temporary directory.
func run(w io.Writer) (_ outcome, err error) {
	out := &logger{w: w}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "replay-example-")
	if err != nil {
		return outcome{}, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()

	// The dependency: the billing service, which the story breaks and
	// heals.
	bill := newBilling()
	srv := httptest.NewServer(bill.handler())
	defer srv.Close()
	base := srv.Client().Transport

	// The breaker for billing, shared by the client and the worker. Three
	// failures in a row open it. While it is open, a health check (GET
	// /health, every 100 ms) probes billing in place of requests, and a
	// check that passes closes it.
	brk := breaker.New(breaker.Config{
		Name:                "billing",
		ConsecutiveFailures: 3,
		OpenDuration:        100 * time.Millisecond,
		HealthCheck: func(ctx context.Context) error {
			return healthy(ctx, srv.Client(), srv.URL+"/health")
		},
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			if from == breaker.Closed || to == breaker.Closed { // not the failed checks in between
				out.printf("breaker: %s -> %s", from, to)
			}
		},
	})
	defer brk.Close()

	// The broker: a NATS server with JetStream, in process, and a stream
	// that keeps the logged requests.
	ns, err := embedded.Start(embedded.Config{Dir: filepath.Join(dir, "jetstream")})
	if err != nil {
		return outcome{}, err
	}
	defer ns.Shutdown()
	nc, err := natsgo.Connect(ns.URL())
	if err != nil {
		return outcome{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return outcome{}, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "REPLAY", Subjects: []string{"replay.>"}}); err != nil {
		return outcome{}, err
	}

	// The client's database, whose outbox table is the replay log.
	cdb, err := sqlite.Open(filepath.Join(dir, "client.db"))
	if err != nil {
		return outcome{}, err
	}
	defer cdb.Close()
	ob := outbox.New(cdb, outbox.Config{Dialect: sqlite.Dialect})
	if err := ob.Migrate(ctx); err != nil {
		return outcome{}, err
	}
	notify := outbox.NewLocalNotifier()
	rlog := &replayLog{outbox: ob, topic: "replay.billing", notify: notify}

	// The client: from the outside in, the fallback that logs what the
	// breaker refuses, then the breaker.
	client := &http.Client{Transport: resilience.Transport(base, rlog.policy(), brk)}
	defer client.CloseIdleConnections()

	// The relay: from the outbox table to JetStream.
	pub := nats.New(nc, nats.Config{Stream: "REPLAY"})
	defer pub.Close()
	relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{Notifier: notify, PollInterval: 500 * time.Millisecond})
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(relayCtx) }()
	defer func() {
		stopRelay()
		err = errors.Join(err, <-relayDone)
	}()

	// The worker: a database of its own for its Inbox, a client with the
	// breaker and no fallback, and a durable JetStream consumer that
	// delivers again what is not acknowledged within 500 ms.
	wdb, err := sqlite.Open(filepath.Join(dir, "worker.db"))
	if err != nil {
		return outcome{}, err
	}
	defer wdb.Close()
	inbox := outbox.NewInbox(wdb, outbox.InboxConfig{Dialect: sqlite.Dialect})
	if err := inbox.Migrate(ctx); err != nil {
		return outcome{}, err
	}
	replayer := &http.Client{Transport: resilience.Transport(base, brk)}
	defer replayer.CloseIdleConnections()
	wk := newWorker(wdb, inbox, replayer, out)
	cons, err := js.CreateOrUpdateConsumer(ctx, "REPLAY", jetstream.ConsumerConfig{
		Durable:   "replayer",
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   500 * time.Millisecond,
	})
	if err != nil {
		return outcome{}, err
	}
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	cc, err := cons.Consume(func(msg jetstream.Msg) { wk.handle(consumeCtx, msg) })
	if err != nil {
		return outcome{}, err
	}
	defer func() {
		cc.Stop()
		<-cc.Closed()
	}()

	var o outcome
	post := func(u usage) error {
		status, err := send(ctx, client, srv.URL+"/usage", u, out)
		if status == http.StatusAccepted {
			o.accepted = append(o.accepted, u.ID)
		}
		return err
	}

	out.printf("1. billing is up: requests go straight through")
	if err := post(usage{"u-01", "alice", 3}); err != nil {
		return o, err
	}

	out.printf("2. billing goes down: three requests fail, and the third opens the breaker")
	bill.setDown(true)
	for _, u := range []usage{{"u-02", "bob", 6}, {"u-03", "alice", 2}, {"u-04", "carol", 5}} {
		if err := post(u); err != nil {
			return o, err
		}
	}

	out.printf("3. the breaker refuses requests before they leave: each is logged and accepted for replay")
	for _, u := range []usage{{"u-05", "bob", 4}, {"u-06", "alice", 8}, {"u-07", "carol", 2}, {"u-08", "bob", 7}, {"u-09", "alice", 2}} {
		if err := post(u); err != nil {
			return o, err
		}
	}
	// The worker gets them from JetStream at once, and the breaker holds
	// each one back.
	if err := wk.waitFor(ctx, func() bool { return wk.heldBackCount() >= len(o.accepted) }); err != nil {
		return o, fmt.Errorf("waiting for the worker to try the logged requests: %w", err)
	}

	out.printf("4. billing is back: the health check closes the breaker, and the worker replays the log")
	bill.setDown(false)
	if err := wk.waitFor(ctx, func() bool {
		return wk.replayed.Load() >= int64(len(o.accepted)) && wk.skipped.Load() >= 1
	}); err != nil {
		return o, fmt.Errorf("waiting for the replays: %w", err)
	}

	stats, err := drained(ctx, ob)
	if err != nil {
		return o, err
	}
	o.received, o.skipped = bill.received(), wk.skipped.Load()
	out.printf("billing received %s: %d request(s), %d twice", strings.Join(o.received, " "), len(o.received), duplicates(o.received))
	out.printf("client: %d accepted for replay; outbox backlog %d, dead letters %d; relay published %d",
		len(o.accepted), stats.Backlog, stats.Dead, relay.Metrics().Published)
	out.printf("worker: %d replayed, %d redelivery skipped, %d replay(s) held back by the open breaker",
		wk.replayed.Load(), o.skipped, wk.refusals.Load())
	return o, nil
}

// send posts u to billing through client and prints the answer. It
// returns the status, 0 when the request failed.
func send(ctx context.Context, client *http.Client, url string, u usage, out *logger) (int, error) {
	body, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", u.ID)
	what := fmt.Sprintf("POST /usage %s (%s, %d units)", u.ID, u.Customer, u.Units)
	resp, err := client.Do(req)
	if err != nil {
		out.printf("client:  %s -> failed: %v", what, err)
		return 0, nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	line := fmt.Sprintf("client:  %s -> %d %s", what, resp.StatusCode, strings.TrimSpace(string(answer)))
	if id := resp.Header.Get("Replay-Id"); id != "" {
		line += " (outbox message " + id + ")"
	}
	out.printf("%s", line)
	return resp.StatusCode, nil
}

// healthy is the breaker's health check: GET /health, sent to billing
// directly, not through the breaker.
func healthy(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("billing health: %s", resp.Status)
	}
	return nil
}

// drained waits until the relay has recorded every publication (it deletes
// a row once the broker acknowledged its message), and returns the stats
// of the outbox then.
func drained(ctx context.Context, ob *outbox.Outbox) (outbox.Stats, error) {
	for {
		stats, err := ob.Stats(ctx)
		if err != nil || stats.Backlog == 0 {
			return stats, err
		}
		select {
		case <-ctx.Done():
			return stats, fmt.Errorf("waiting for the relay: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// duplicates counts the keys that occur more than once in keys.
func duplicates(keys []string) int {
	seen := map[string]int{}
	n := 0
	for _, k := range keys {
		if seen[k]++; seen[k] == 2 {
			n++
		}
	}
	return n
}

// logger writes lines for the goroutines of the example, one at a time.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

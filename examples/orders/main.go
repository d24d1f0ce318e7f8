// Command orders shows the transactional outbox of package outbox end to
// end, in one process, with nothing to install:
//
//	go run ./examples/orders
//
// An order service answers POST /orders: it stores the order and its
// OrderCreated event in one SQLite transaction (so there is never an order
// without its event, nor an event without its order: an order refused
// after it was written rolls back with its event). A relay publishes the
// events to NATS JetStream, backing off after a (simulated) broker
// failure. A reporting service, with a database of its own, consumes them
// and keeps a read model of what each customer ordered; it uses an Inbox,
// so an event that JetStream delivers twice (here because the consumer
// "crashed" before its ack) is applied once.
//
// SQLite (outbox/sqlite, pure Go) and the NATS server (outbox/nats/embedded)
// run inside the process, with their files in a temporary directory that
// the program removes when it ends.
package main

import (
	"context"
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

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/nats/embedded"
	"github.com/resiliencekit/resilience/outbox/sqlite"
	"github.com/resiliencekit/resilience/retry"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// run tells the story to w. Everything it starts, it stops before it
// returns: servers, goroutines, databases, and the temporary directory.
func run(w io.Writer) (err error) {
	out := &logger{w: w}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "orders-example-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()

	// The broker: a NATS server with JetStream, in process, and a stream
	// that keeps the order events.
	srv, err := embedded.Start(embedded.Config{Dir: filepath.Join(dir, "jetstream")})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		return err
	}

	// The order service's database: its orders and its outbox.
	odb, err := sqlite.Open(filepath.Join(dir, "orders.db"))
	if err != nil {
		return err
	}
	defer odb.Close()
	ob := outbox.New(odb, outbox.Config{Dialect: sqlite.Dialect})
	if err := ob.Migrate(ctx); err != nil {
		return err
	}
	if _, err := odb.ExecContext(ctx,
		"CREATE TABLE orders (id TEXT PRIMARY KEY, customer TEXT NOT NULL, total_cents INTEGER NOT NULL)"); err != nil {
		return err
	}

	// The reporting service's database: its read model and its inbox.
	rdb, err := sqlite.Open(filepath.Join(dir, "reports.db"))
	if err != nil {
		return err
	}
	defer rdb.Close()
	if _, err := rdb.ExecContext(ctx,
		"CREATE TABLE customer_totals (customer TEXT PRIMARY KEY, orders INTEGER NOT NULL, total_cents INTEGER NOT NULL)"); err != nil {
		return err
	}
	inbox := outbox.NewInbox(rdb, outbox.InboxConfig{Dialect: sqlite.Dialect})
	if err := inbox.Migrate(ctx); err != nil {
		return err
	}

	// The relay: from the outbox table to JetStream. A failed publication
	// is tried again after the delay a retry.Retry's Delay gives for its
	// count of failures: 100 ms, 200 ms, 400 ms, … up to 5 s, with equal jitter
	// (in production the default, 1 s to 5 min, suits better).
	pub := nats.New(nc, nats.Config{Stream: "ORDERS"})
	defer pub.Close()
	notify := outbox.NewLocalNotifier()
	relay := outbox.NewRelay(ob, &tellingPublisher{next: pub, out: out, flaky: "o-1002"}, outbox.RelayConfig{
		Notifier:     notify,
		PollInterval: 500 * time.Millisecond,
		Backoff: retry.New(retry.Config{
			InitialDelay: 100 * time.Millisecond,
			MaxDelay:     5 * time.Second,
			Jitter:       retry.JitterEqual,
		}).Delay,
	})
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(relayCtx) }()
	defer func() {
		stopRelay()
		err = errors.Join(err, <-relayDone)
	}()

	// The consumer: a durable JetStream consumer that redelivers what is
	// not acknowledged within 500 ms.
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable:   "reports",
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	reporting := newReports(rdb, inbox, out)
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	cc, err := cons.Consume(func(msg jetstream.Msg) { reporting.handle(consumeCtx, msg) })
	if err != nil {
		return err
	}
	defer func() {
		cc.Stop()
		<-cc.Closed()
	}()

	// The order service's HTTP server, and a client placing orders.
	web := httptest.NewServer((&orders{db: ob.DB(), outbox: ob, notify: notify}).handler())
	defer web.Close()
	client := web.Client()
	defer client.CloseIdleConnections()
	for _, o := range []string{
		`{"id": "o-1001", "customer": "alice", "total_cents": 4200}`,
		`{"id": "o-1002", "customer": "bob", "total_cents": 1750}`,
		`{"id": "o-1003", "customer": "alice", "total_cents": 120000}`, // over alice's credit limit
		`{"id": "o-1004", "customer": "alice", "total_cents": 1550}`,
	} {
		if err := post(ctx, client, web.URL+"/orders", o, out); err != nil {
			return err
		}
	}

	// Three orders were created: wait until the reporting service applied
	// their three events and skipped the redelivered one.
	if err := reporting.wait(ctx, 3, 1); err != nil {
		return fmt.Errorf("waiting for the reporting service: %w", err)
	}
	totals, err := reporting.totals(ctx)
	if err != nil {
		return err
	}
	out.printf("read model (reporting service):")
	for _, t := range totals {
		out.printf("  %-6s %d order(s), %s", t.customer, t.orders, cents(t.totalCents))
	}
	var stored int
	if err := ob.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM orders").Scan(&stored); err != nil {
		return err
	}
	stats, err := drained(ctx, ob)
	if err != nil {
		return err
	}
	m := relay.Metrics()
	out.printf("order service: %d orders stored; outbox backlog %d, dead letters %d", stored, stats.Backlog, stats.Dead)
	out.printf("relay: %d published, %d failed attempt(s)", m.Published, m.Failed)
	out.printf("events applied %d, duplicates skipped %d", reporting.applied.Load(), reporting.skipped.Load())
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

// post sends one order to the order service and prints the answer.
func post(ctx context.Context, client *http.Client, url, body string, out *logger) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	out.printf("client:  POST /orders %s -> %d %s", body, resp.StatusCode, strings.TrimSpace(string(msg)))
	return nil
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

// cents formats an amount of cents as dollars.
func cents(c int64) string {
	return fmt.Sprintf("$%d.%02d", c/100, c%100)
}

// Command payments shows a POST made exactly once end to end, in one
// process, with nothing to install:
//
//	go run ./examples/payments
//
// A client pays through an http.Client whose resilience.Transport gives
// every POST an Idempotency-Key (TransportConfig.IdempotencyKey) and
// retries it. The payment service guards POST /payments with
// idempotency.Keys.Handler on an SQLStore, and writes the payment, its
// PaymentCaptured event (package outbox) and the stored response in one
// SQLite transaction (idempotency.CommitTx).
//
// Two things go wrong, as they do in production:
//
//   - the connection drops after the server committed, before the
//     response reached the client: the client retries with the same key
//     and gets the stored response; the card is charged once;
//   - the server fails after writing, before its transaction commits
//     (here a panic): nothing was committed, the key is released, and the
//     retry executes; again one payment, one event.
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

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/sqlite"
	"github.com/resiliencekit/resilience/retry"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

// run tells the story to w, and stops and removes all it started.
func run(out io.Writer) (err error) {
	w := &syncWriter{w: out} // the server's goroutines write to it too
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "payments-example-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()

	db, err := sqlite.Open(filepath.Join(dir, "payments.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	ob := outbox.New(db, outbox.Config{Dialect: sqlite.Dialect})
	store := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: sqlite.Dialect})
	svc := &payments{db: db, outbox: ob}
	for _, migrate := range []func(context.Context) error{ob.Migrate, store.Migrate, svc.migrate} {
		if err := migrate(ctx); err != nil {
			return err
		}
	}

	keys := idempotency.New(store, idempotency.Config{KeyRequired: true})
	net := &flakyNetwork{next: keys.Handler(http.HandlerFunc(svc.pay)), log: w}
	srv := httptest.NewServer(net)
	defer srv.Close()

	client := &http.Client{Transport: resilience.NewTransport(nil, resilience.TransportConfig{
		IdempotencyKey: resilience.NewIdempotencyKey,
	}, retry.New(retry.Config{MaxRetries: 3, InitialDelay: 10 * time.Millisecond}))}

	pay := func(label, body string) error {
		fmt.Fprintf(w, "%s\n", label)
		resp, err := client.Post(srv.URL+"/payments", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		replayed := ""
		if resp.Header.Get(idempotency.ReplayedHeader) == "true" {
			replayed = " (replayed)"
		}
		fmt.Fprintf(w, "  client:  %d %s%s\n", resp.StatusCode, strings.TrimSpace(string(b)), replayed)
		return nil
	}

	net.dropAfter = 1 // the first response is lost on its way back
	if err := pay("1. alice pays 42.00; the connection drops after the server committed",
		`{"customer":"alice","cents":4200}`); err != nil {
		return err
	}
	svc.failBeforeCommit = 1 // the next transaction does not commit
	if err := pay("2. bob pays 17.50; the server fails before its transaction commits",
		`{"customer":"bob","cents":1750}`); err != nil {
		return err
	}

	n, events, err := svc.count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "server: %d requests, %d executions; %d payments stored, %d PaymentCaptured events in the outbox\n",
		net.requests.Load(), svc.executions.Load(), n, events)
	m := keys.Metrics()
	fmt.Fprintf(w, "keys: %d executed, %d replayed\n", m.Executed, m.Replayed)
	return nil
}

// syncWriter serializes the writes of the client and the server.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/outbox"
)

// minRedelivery is the least a held-back replay waits before JetStream
// delivers it again.
const minRedelivery = 50 * time.Millisecond

// worker replays the logged requests that JetStream delivers to it. It
// sends them through the same breaker as the client (but without the
// fallback: a replay the breaker refuses must not be logged again), so
// that while billing is down the breaker holds the replays back, and its
// health check, not a flood of replays, finds out when billing is back.
//
// JetStream delivers at least once: a message whose ack does not arrive
// within the consumer's AckWait is delivered again. The Inbox records the
// ID of every message replayed, in the worker's database, in the
// transaction that commits once billing has answered; a redelivery of a
// replayed message is skipped. One window is left, and the Idempotency-Key
// closes it: when the worker stops after billing answered and before its
// commit, the message is replayed again, and billing recognizes the key.
type worker struct {
	db     *sql.DB
	inbox  *outbox.Inbox
	client *http.Client // resilience.Transport with the breaker
	out    *logger

	// loseAck makes the worker skip the ack of the first request it
	// replays, as if it crashed between its commit and its ack, so that
	// JetStream delivers that message again.
	loseAck atomic.Bool

	mu       sync.Mutex
	heldBack map[string]bool // messages the breaker held back at least once

	replayed, skipped, refusals atomic.Int64
	progress                    chan struct{} // a value after each delivery handled
}

func newWorker(db *sql.DB, inbox *outbox.Inbox, client *http.Client, out *logger) *worker {
	w := &worker{db: db, inbox: inbox, client: client, out: out,
		heldBack: map[string]bool{}, progress: make(chan struct{}, 1)}
	w.loseAck.Store(true)
	return w
}

// handle replays one delivery of a logged request, and acknowledges it
// or hands it back to JetStream for later.
func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	defer w.signal()
	id := msg.Headers().Get(jetstream.MsgIDHeader) // the outbox message ID
	var req loggedRequest
	if err := json.Unmarshal(msg.Data(), &req); err != nil {
		w.out.printf("worker:  undecodable message %s: %v (dropped)", id, err)
		_ = msg.Term()
		return
	}
	key := req.Header.Get("Idempotency-Key")

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ran, answer, err := w.replay(ctx, id, req)
	var open *breaker.OpenError
	switch {
	case errors.As(err, &open):
		// Billing is still down: JetStream delivers the message again
		// once the breaker may let a request through.
		w.refusals.Add(1)
		delay := max(open.RetryAfter(), minRedelivery)
		if w.holdBack(id) {
			w.out.printf("worker:  %s held back: the breaker is open (redelivered in %v)", key, delay.Round(10*time.Millisecond))
		}
		_ = msg.NakWithDelay(delay)
		return
	case err != nil:
		w.out.printf("worker:  replaying %s failed: %v (redelivered later)", key, err)
		_ = msg.NakWithDelay(time.Second)
		return
	case !ran:
		w.skipped.Add(1)
		w.out.printf("worker:  redelivery of %s: replayed already, skipped", key)
	default:
		w.replayed.Add(1)
		w.out.printf("worker:  replayed %s -> %s", key, answer)
		if w.loseAck.CompareAndSwap(true, false) {
			w.out.printf("worker:  ... and crashed before its ack (simulated): JetStream will deliver it again")
			return
		}
	}
	_ = msg.Ack()
}

// replay sends req unless the message id was replayed before; it reports
// whether it did, and billing's answer. The transaction stays open while
// billing answers, which the worker's own SQLite file does not mind; on a
// shared database the Inbox's row is locked meanwhile (which keeps a
// second worker given the same message waiting, as it should), so the
// request's time limit bounds that too.
func (w *worker) replay(ctx context.Context, id string, req loggedRequest) (ran bool, answer string, err error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return false, "", err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed
	ran, err = w.inbox.Process(ctx, tx, id, func(ctx context.Context, _ *sql.Tx) error {
		a, err := w.send(ctx, req)
		answer = a
		return err
	})
	if err != nil {
		return false, "", err
	}
	return ran, answer, tx.Commit()
}

// send sends req to billing and returns its answer: an error unless it is
// a 2xx.
func (w *worker) send(ctx context.Context, logged loggedRequest) (string, error) {
	req, err := http.NewRequestWithContext(ctx, logged.Method, logged.URL, bytes.NewReader(logged.Body))
	if err != nil {
		return "", err
	}
	req.Header = logged.Header.Clone()
	resp, err := w.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", err
	}
	answer := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 != 2 {
		return "", errors.New("billing answered " + answer)
	}
	return answer, nil
}

// holdBack records that the breaker held message id back; it reports
// whether that is the first time.
func (w *worker) holdBack(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := !w.heldBack[id]
	w.heldBack[id] = true
	return first
}

// heldBackCount is how many messages the breaker held back at least once.
func (w *worker) heldBackCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.heldBack)
}

func (w *worker) signal() {
	select {
	case w.progress <- struct{}{}:
	default:
	}
}

// waitFor returns once done reports true, checked after each delivery the
// worker handled, or when ctx ends.
func (w *worker) waitFor(ctx context.Context, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.progress:
		}
	}
	return nil
}

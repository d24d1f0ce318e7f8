package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
)

// reports is the consumer: a reporting service that keeps a read model,
// the orders and spending of each customer, in a database of its own, up
// to date from the OrderCreated events it receives from JetStream.
//
// JetStream delivers at least once: a message whose ack does not arrive
// within the consumer's AckWait is delivered again. The Inbox records the
// ID of every message applied, in the same transaction as the read model
// update, so a redelivery changes nothing: exactly-once effects.
type reports struct {
	db    *sql.DB
	inbox *outbox.Inbox
	out   *logger

	// loseAck makes the consumer skip the ack of the first event it
	// applies, as if it crashed between its commit and its ack, so that
	// JetStream delivers that event again.
	loseAck atomic.Bool

	applied, skipped atomic.Int64
	progress         chan struct{} // a value after each event handled
}

func newReports(db *sql.DB, inbox *outbox.Inbox, out *logger) *reports {
	r := &reports{db: db, inbox: inbox, out: out, progress: make(chan struct{}, 1)}
	r.loseAck.Store(true)
	return r
}

// handle applies one delivery of an event and acknowledges it.
func (r *reports) handle(ctx context.Context, msg jetstream.Msg) {
	id := msg.Headers().Get(jetstream.MsgIDHeader) // the outbox message ID
	delivery := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		delivery = md.NumDelivered
	}
	var ev orderCreated
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		r.out.printf("reports: undecodable event %s: %v (dropped)", id, err)
		_ = msg.Term()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ran, err := r.apply(ctx, id, ev)
	switch {
	case err != nil:
		r.out.printf("reports: delivery %d of order %s failed: %v (delivered again later)", delivery, ev.ID, err)
		_ = msg.Nak()
		return
	case !ran:
		r.skipped.Add(1)
		r.out.printf("reports: delivery %d of order %s: already applied, skipped", delivery, ev.ID)
	default:
		r.applied.Add(1)
		r.out.printf("reports: delivery %d of order %s: applied (%s, %s)", delivery, ev.ID, ev.Customer, cents(ev.TotalCents))
		if r.loseAck.CompareAndSwap(true, false) {
			r.out.printf("reports: ... and crashed before its ack (simulated): JetStream will deliver it again")
			r.signal()
			return
		}
	}
	_ = msg.Ack()
	r.signal()
}

// apply updates the read model for ev unless the message id was applied
// before; it reports whether it did.
func (r *reports) apply(ctx context.Context, id string, ev orderCreated) (bool, error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed
	ran, err := r.inbox.Process(ctx, tx, id, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO customer_totals (customer, orders, total_cents) VALUES (?, 1, ?)
			ON CONFLICT (customer) DO UPDATE
			SET orders = orders + 1, total_cents = total_cents + excluded.total_cents`,
			ev.Customer, ev.TotalCents)
		return err
	})
	if err != nil {
		return false, err
	}
	return ran, tx.Commit()
}

func (r *reports) signal() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// wait returns once applied events were applied and skipped were skipped,
// or ctx ended.
func (r *reports) wait(ctx context.Context, applied, skipped int64) error {
	for r.applied.Load() < applied || r.skipped.Load() < skipped {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.progress:
		}
	}
	return nil
}

// customerTotal is one row of the read model.
type customerTotal struct {
	customer   string
	orders     int
	totalCents int64
}

// totals reads the read model.
func (r *reports) totals(ctx context.Context) ([]customerTotal, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT customer, orders, total_cents FROM customer_totals ORDER BY customer")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []customerTotal
	for rows.Next() {
		var t customerTotal
		if err := rows.Scan(&t.customer, &t.orders, &t.totalCents); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/resiliencekit/resilience/outbox"
)

// creditLimit caps what a customer may order in total, in cents: an order
// that would go over it is refused, after it was written, so that its
// transaction rolls back with its event.
const creditLimit = 100_000

// order is the body of POST /orders.
type order struct {
	ID         string `json:"id"`
	Customer   string `json:"customer"`
	TotalCents int64  `json:"total_cents"`
}

// orderCreated is the event announcing an order, the payload of its
// outbox message.
type orderCreated struct {
	Type string `json:"type"` // "OrderCreated"
	order
}

// errCreditLimit refuses an order that would take its customer over the
// credit limit.
var errCreditLimit = errors.New("credit limit exceeded")

// orders is the order service: it stores orders, each with its
// OrderCreated event, in its own database.
type orders struct {
	db     *sql.DB
	outbox *outbox.Outbox
	// notify wakes the relay after a commit, so that the event is
	// published within milliseconds rather than at the next poll.
	notify *outbox.LocalNotifier
}

// handler returns the HTTP API of the order service.
func (s *orders) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.create)
	return mux
}

// create serves POST /orders: 201 when the order and its event are
// stored, 422 when the order is refused.
func (s *orders) create(w http.ResponseWriter, r *http.Request) {
	var o order
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil || o.ID == "" || o.Customer == "" || o.TotalCents <= 0 {
		http.Error(w, "want {id, customer, total_cents > 0}", http.StatusBadRequest)
		return
	}
	switch err := s.place(r.Context(), o); {
	case errors.Is(err, errCreditLimit):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order %s created", o.ID)
	}
}

// place writes the order and its OrderCreated event in one transaction:
// both are committed, or neither.
func (s *orders) place(ctx context.Context, o order) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed

	if _, err := tx.ExecContext(ctx,
		"INSERT INTO orders (id, customer, total_cents) VALUES (?, ?, ?)",
		o.ID, o.Customer, o.TotalCents); err != nil {
		return err
	}
	payload, err := json.Marshal(orderCreated{Type: "OrderCreated", order: o})
	if err != nil {
		return err
	}
	if err := s.outbox.Add(ctx, tx, outbox.Message{
		Topic:   "orders.created", // the NATS subject
		Key:     o.ID,             // events of one order reach the broker in order
		Payload: payload,
		Headers: map[string]string{"Event-Type": "OrderCreated"},
	}); err != nil {
		return err
	}

	// A business rule checked after the writes: when it fails, the
	// rollback takes the order and its event away together, and the relay
	// never sees the event.
	var total int64
	if err := tx.QueryRowContext(ctx,
		"SELECT SUM(total_cents) FROM orders WHERE customer = ?", o.Customer).Scan(&total); err != nil {
		return err
	}
	if total > creditLimit {
		return errCreditLimit
	}

	if err := tx.Commit(); err != nil {
		return err
	}
	s.notify.Notify()
	return nil
}

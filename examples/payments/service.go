package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/outbox"
)

// payments is the payment service.
type payments struct {
	db     *sql.DB
	outbox *outbox.Outbox
	// failBeforeCommit makes this many executions fail after they wrote
	// everything and before their transaction commits.
	failBeforeCommit int
	executions       atomic.Int64
}

type payment struct {
	Customer string `json:"customer"`
	Cents    int64  `json:"cents"`
}

func (s *payments) migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS payments (
		id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, cents INTEGER NOT NULL)`)
	return err
}

// pay serves POST /payments: the payment, its event and the stored
// response commit in one transaction.
func (s *payments) pay(w http.ResponseWriter, r *http.Request) {
	s.executions.Add(1)
	var p payment
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Customer == "" || p.Cents <= 0 {
		http.Error(w, "want {customer, cents > 0}", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed
	res, err := tx.ExecContext(ctx, `INSERT INTO payments (customer, cents) VALUES (?, ?)`, p.Customer, p.Cents)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	id, _ := res.LastInsertId()
	event, _ := json.Marshal(map[string]any{"type": "PaymentCaptured", "payment": id, "customer": p.Customer, "cents": p.Cents})
	if err := s.outbox.Add(ctx, tx, outbox.Message{Topic: "payments.captured", Key: p.Customer, Payload: event}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", fmt.Sprintf("/payments/%d", id))
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"payment":%d,"customer":%q,"cents":%d}`, id, p.Customer, p.Cents)
	if err := idempotency.CommitTx(ctx, tx); err != nil {
		panic(err) // Handler releases the key; the transaction rolls back
	}
	if s.failBeforeCommit > 0 {
		s.failBeforeCommit--
		panic("payments: the process fails before its commit (simulated)")
	}
	if err := tx.Commit(); err != nil {
		panic(err)
	}
}

// count returns how many payments and outbox messages are stored.
func (s *payments) count(ctx context.Context) (payments, events int, err error) {
	if err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments`).Scan(&payments); err != nil {
		return 0, 0, err
	}
	st, err := s.outbox.Stats(ctx)
	return payments, int(st.Backlog), err
}

// flakyNetwork stands between client and server: the first dropAfter
// responses are lost, the server having handled their request in full.
type flakyNetwork struct {
	next      http.Handler
	log       io.Writer
	dropAfter int
	requests  atomic.Int64
}

func (n *flakyNetwork) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.requests.Add(1)
	fmt.Fprintf(n.log, "  server:  %s %s, Idempotency-Key %s\n", r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"))
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(n.log, "  server:  failed: %v\n", v)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if n.dropAfter == 0 {
		n.next.ServeHTTP(w, r)
		return
	}
	n.dropAfter--
	n.next.ServeHTTP(discard{header: http.Header{}}, r) // handled and committed
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close() // and the response is lost
	}
	fmt.Fprintln(n.log, "  network: the connection dropped before the response")
}

// discard is a ResponseWriter whose response goes nowhere.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

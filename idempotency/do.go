package idempotency

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// doScope is the scope of the keys of Do, so that they never meet those of
// Handler.
const doScope = "idempotency.Do"

// Do runs fn once for key and returns its value; a later call with the same
// key, until Config.TTL has passed, returns the stored value without
// running fn. The value is stored as JSON, so T must survive a round trip
// through encoding/json (exported fields; no channels or funcs).
//
// An error of fn is returned and not stored: the key is released, and the
// next call runs fn again. So is a panic, which goes on. A call while fn
// runs for key elsewhere waits up to Config.MaxWait for its value, and then
// returns ErrInProgress. A key that is empty or longer than
// Config.MaxKeyBytes is ErrInvalidKey; any bytes are allowed in it. A
// failing Store returns an error matching ErrUnavailable, without running
// fn.
//
// fn gets a context that is cancelled, with cause ErrLeaseLost, if its
// record is taken over by another execution while it runs (its lease could
// not be renewed in time). A value that is too large for the Store is
// returned, and a later call gets ErrNotKept; a value that cannot be
// stored because the Store failed is returned too, and a later call, once
// the lease ran out, runs fn again (at least once, as for Handler).
func Do[T any](ctx context.Context, k *Keys, key string, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if key == "" || len(key) > k.c.MaxKeyBytes {
		return zero, ErrInvalidKey
	}
	e, rec, err := k.acquire(ctx, storeKey(doScope, key), fingerprint(doScope))
	if err != nil {
		return zero, err
	}
	if e == nil {
		kind, _, js, err := decode(rec.Outcome)
		switch {
		case err != nil || kind == kindResponse:
			return zero, errCorrupt
		case kind == kindNotKept:
			return zero, ErrNotKept
		}
		var v T
		if err := json.Unmarshal(js, &v); err != nil {
			return zero, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return v, nil
	}
	ok := false
	defer func() {
		if !ok {
			e.end()
			e.release(ctx)
		}
	}()
	v, err := fn(e.ctx)
	ok = true
	e.end()
	if err != nil {
		e.release(ctx)
		return v, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		e.release(ctx)
		return v, fmt.Errorf("idempotency: cannot store the value of Do: %w", err)
	}
	err = e.complete(ctx, encodeValue(js))
	if errors.Is(err, ErrTooLarge) {
		k.m.notKept.Add(1)
		err = e.complete(ctx, encodeNotKept())
	}
	switch {
	case errors.Is(err, ErrLeaseLost):
		k.m.leasesLost.Add(1)
	case err != nil:
		k.m.storeFails.Add(1)
	}
	return v, nil
}

// TxStore is a Store that can complete a record inside a SQL transaction
// of the caller's, so that the outcome commits, or rolls back, with the
// effects of the execution. SQLStore is one.
type TxStore interface {
	Store
	CompleteTx(ctx context.Context, tx *sql.Tx, r Record, now time.Time) error
}

// ErrNoExecution is returned by CommitTx when ctx is not that of an
// execution of Handler.
var ErrNoExecution = errors.New("idempotency: CommitTx outside an execution of Handler")

// CommitTx stores the response written so far, as the outcome of the
// execution of Handler that ctx belongs to, in tx: the outcome commits with
// the effects made in tx, or not at all. Call it from the handler after the
// response is written and before tx commits:
//
//	tx, err := db.BeginTx(r.Context(), nil)
//	... // the state change, and outbox.Add(ctx, tx, event)
//	w.WriteHeader(http.StatusCreated)
//	json.NewEncoder(w).Encode(order)
//	if err := idempotency.CommitTx(r.Context(), tx); err != nil { ... roll back, answer 500 }
//	if err := tx.Commit(); err != nil { ... answer 500 }
//
// A process that dies before tx commits leaves neither the effects nor
// the outcome, and a retry executes again once the lease ran out; one that
// dies after it leaves both, and a retry gets the stored response. If tx
// does not commit, Handler finds the record still in progress when the
// handler returns, releases it and answers 500 Internal Server Error in
// place of the response written (unless that was already sent: a flushed
// or long one).
//
// It returns ErrNoExecution outside Handler, an error when the Keys' Store
// is not a TxStore or the response was already sent, and ErrLeaseLost when
// another execution took the record over (then roll back). An outcome that
// Config.Keep refuses is not stored, and CommitTx returns nil: the key is
// released when the handler returns.
func CommitTx(ctx context.Context, tx *sql.Tx) error {
	c, _ := ctx.Value(callKey{}).(*httpCall)
	if c == nil {
		return ErrNoExecution
	}
	e := c.e
	ts, ok := e.k.store.(TxStore)
	switch {
	case !ok:
		return fmt.Errorf("idempotency: CommitTx with a %T, which is not a TxStore", e.k.store)
	case c.sent:
		return errors.New("idempotency: CommitTx after the response was sent (flushed, or longer than MaxResponseBytes)")
	case c.committed:
		return errors.New("idempotency: CommitTx called twice")
	case !e.k.c.Keep(c.statusOr200()):
		return nil
	}
	out, kept := c.outcome(e.k.headers)
	now := time.Now()
	r := e.r
	r.Done, r.Outcome, r.Expires = true, out, now.Add(e.k.c.TTL)
	e.committing()
	err := ts.CompleteTx(ctx, tx, r, now)
	if errors.Is(err, ErrTooLarge) && kept {
		r.Outcome = encodeNotKept()
		err = ts.CompleteTx(ctx, tx, r, now)
	}
	if err != nil {
		return err
	}
	c.committed = true
	return nil
}

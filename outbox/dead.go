package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// Reasons a message is in the dead-letter table (DeadLetter.Reason).
const (
	// ReasonMaxAttempts: publishing failed RelayConfig.MaxAttempts times.
	ReasonMaxAttempts = "max_attempts"
	// ReasonRejected: the publisher failed it with a permanent error
	// (resilience.Permanent): retrying cannot help.
	ReasonRejected = "rejected"
	// ReasonExpired: its ExpiresAt passed before it could be published.
	ReasonExpired = "expired"
)

// DeadLetter is a message the relay gave up on, as kept in the dead-letter
// table.
type DeadLetter struct {
	// Message is the message as it was written, with Attempts the number of
	// failed attempts to publish it and CreatedAt when Add wrote it.
	// AvailableAt is zero.
	Message
	// Reason is why it is here: ReasonMaxAttempts, ReasonRejected or
	// ReasonExpired.
	Reason string
	// LastError is the error of its last attempt; empty for an expired
	// message that was never attempted.
	LastError string
	// DeadAt is when it was moved here, by the database's clock.
	DeadAt time.Time
}

// Filter selects dead letters for DeadLetters and Redrive. Its zero value
// selects every one; each set field narrows the selection.
type Filter struct {
	// IDs, when not empty, selects the messages with these IDs.
	IDs []string
	// Topic, when not empty, selects the messages of this topic.
	Topic string
	// Key, when not empty, selects the messages of this key (the empty key
	// cannot be selected alone).
	Key string
	// Reason, when not empty, selects the messages dead for this reason.
	Reason string
	// Limit, when positive, caps how many are selected: the oldest first.
	Limit int
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	if len(f.IDs) > 0 {
		conds = append(conds, "id IN ("+list(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	for _, c := range [...]struct{ col, v string }{{"topic", f.Topic}, {"msg_key", f.Key}, {"reason", f.Reason}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	s := ""
	if len(conds) > 0 {
		s = " WHERE " + strings.Join(conds, " AND ")
	}
	s += " ORDER BY seq"
	if f.Limit > 0 {
		s += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return s, args
}

// DeadLetters returns the dead letters f selects, oldest first.
func (o *Outbox) DeadLetters(ctx context.Context, f Filter) ([]DeadLetter, error) {
	where, args := f.where()
	q := sqldialect.Rebind(o.d, "SELECT "+msgCols+", last_error, reason, dead_at FROM "+o.q.dead+where)
	rows, err := o.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var dl DeadLetter
		var headers, lastErr sql.NullString
		var created, expires, deadAt int64
		if err := rows.Scan(&dl.ID, &dl.Topic, &dl.Key, &dl.Payload, &headers, &created, &expires,
			&dl.Attempts, &lastErr, &dl.Reason, &deadAt); err != nil {
			return nil, fmt.Errorf("outbox: dead letters: %w", err)
		}
		if dl.Headers, err = decodeHeaders(headers); err != nil {
			return nil, err
		}
		dl.CreatedAt, dl.ExpiresAt, dl.DeadAt = fromMicros(created), fromMicros(expires), fromMicros(deadAt)
		dl.LastError = lastErr.String
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	return out, nil
}

// Redrive moves the dead letters f selects back into the outbox, in one
// transaction, and returns how many it moved. They keep their ID, topic,
// key, payload, headers and CreatedAt; their attempts start again from
// zero and their ExpiresAt is cleared (whoever redrives an expired message
// wants it delivered). Each goes to the end of its key, after the messages
// of its key that are waiting: redriving restores delivery, not the
// original order. A message whose ID is in the outbox again (added anew)
// makes Redrive fail and move nothing.
//
// When it moved any, Redrive tells Config.Observer, if set: an
// EventRedrive with Count n, on the caller's goroutine and with ctx.
func (o *Outbox) Redrive(ctx context.Context, f Filter) (n int, err error) {
	tx, err := o.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: redrive: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("outbox: redrive: %w", err)
		}
	}()
	where, args := f.where()
	sel := "SELECT seq FROM " + o.q.dead + where
	if o.d != SQLite {
		sel += " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, sqldialect.Rebind(o.d, sel), args...)
	if err != nil {
		return 0, err
	}
	var seqs []any
	for rows.Next() {
		var s int64
		if err = rows.Scan(&s); err != nil {
			rows.Close()
			return 0, err
		}
		seqs = append(seqs, s)
	}
	if err = rows.Err(); err != nil {
		return 0, err
	}
	if err = o.execChunks(ctx, tx, seqs, func(n int) string {
		return sqldialect.Rebind(o.d, "INSERT INTO "+o.q.table+" (id, topic, msg_key, payload, headers, created_at, available_at, expires_at, attempts)"+
			" SELECT id, topic, msg_key, payload, headers, created_at, 0, 0, 0 FROM "+o.q.dead+
			" WHERE seq IN ("+list(n)+") ORDER BY seq")
	}); err != nil {
		return 0, err
	}
	if err = o.execChunks(ctx, tx, seqs, func(n int) string { return o.q.deleteSeqs(o.q.dead, n) }); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, err
	}
	if o.obs != nil && len(seqs) > 0 {
		o.obs.Observe(ctx, resilience.Event{Kind: resilience.EventRedrive, Policy: "outbox", Name: o.name, Count: len(seqs)})
	}
	return len(seqs), nil
}

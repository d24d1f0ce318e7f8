package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// store is what a Relay needs of the database. *Outbox implements it with
// SQL; the relay's unit tests use an in-memory fake.
type store interface {
	// claim leases to owner the keys of up to limit due messages, looking
	// at the first window waiting rows of keys nobody else holds, and
	// returns those messages, in seq order. The lease lasts ttl.
	claim(ctx context.Context, owner string, limit, maxBytes, window int, ttl time.Duration) ([]claimed, error)
	// renew extends owner's leases to ttl from now and reports how many
	// keys it holds.
	renew(ctx context.Context, owner string, ttl time.Duration) (int64, error)
	// ack records the outcomes of a batch and releases owner's leases. It
	// records only the outcomes of keys owner still holds, and turns the
	// others into lost ones, in out.
	ack(ctx context.Context, owner string, out []outcome, retain bool) error
	// purge deletes the published rows kept longer than retention.
	purge(ctx context.Context, retention time.Duration) (int64, error)
}

// claimed is a message leased to a relay.
type claimed struct {
	seq     int64
	size    int64 // bytes of payload and headers as stored
	msg     Message
	expired bool
}

type outcomeKind uint8

const (
	published outcomeKind = iota + 1
	failed                // attempt counted, retried after delay
	unsent                // not attempted: retried without counting
	dead                  // moved to the dead letters
	lost                  // not recorded: the relay had lost the key's lease
)

// outcome is what became of a claimed message.
type outcome struct {
	seq      int64
	key      string
	kind     outcomeKind
	attempts int           // failed, dead: the new attempt count
	err      string        // failed, dead: the last error
	reason   string        // dead
	delay    time.Duration // failed: until the next attempt
}

var _ store = (*Outbox)(nil)

// claimTx begins the claim transaction: read committed, so each statement
// sees what other relays committed before it (MySQL defaults to repeatable
// read).
func (o *Outbox) begin(ctx context.Context) (*sql.Tx, error) {
	var opts *sql.TxOptions
	if o.d == MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return o.db.BeginTx(ctx, opts)
}

func (o *Outbox) claim(ctx context.Context, owner string, limit, maxBytes, window int, ttl time.Duration) (_ []claimed, err error) {
	if o.d == SQLite {
		// A claim takes SQLite's one write lock, which Add (and every
		// other writer) then waits for, polling: an idle relay looks
		// first, without it, whether any message is due. (A due message
		// whose key another relay holds still costs a claim.)
		var one int
		switch err := o.db.QueryRowContext(ctx, o.q.anyDue).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
	}
	tx, err := o.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("outbox: claim: %w", err)
		}
	}()
	// Serialize the claims of all relays of this table: with the lock held
	// no other relay can lease a key between our look and our lease. The
	// claim's number, taken under the lock, fences its messages.
	var now, claimNo int64
	if o.q.claimLock != "" {
		var res sql.Result
		if res, err = tx.ExecContext(ctx, o.q.claimLock); err == nil && o.d == MySQL {
			if n, _ := res.RowsAffected(); n == 0 {
				err = errors.New("the fence row is missing: run Migrate")
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if o.d == Postgres {
		err = tx.QueryRowContext(ctx, o.q.claimFence, lockID(o.table)).Scan(&now, &claimNo)
	} else {
		err = tx.QueryRowContext(ctx, o.q.claimFence).Scan(&now, &claimNo)
		if errors.Is(err, sql.ErrNoRows) {
			err = errors.New("the fence row is missing: run Migrate")
		}
	}
	if err != nil {
		return nil, err
	}
	if o.d != SQLite {
		if _, err = tx.ExecContext(ctx, o.q.sweepLeases); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, o.q.claimSelect, now, owner, window, now, maxBytes, limit)
	if err != nil {
		return nil, err
	}
	var out []claimed
	for rows.Next() {
		var c claimed
		var headers sql.NullString
		var created, expires int64
		if err = rows.Scan(&c.seq, &c.size, &c.msg.ID, &c.msg.Topic, &c.msg.Key, &c.msg.Payload, &headers,
			&created, &expires, &c.msg.Attempts); err != nil {
			rows.Close()
			return nil, err
		}
		if c.msg.Headers, err = decodeHeaders(headers); err != nil {
			rows.Close()
			return nil, err
		}
		if c.msg.Headers == nil {
			c.msg.Headers = make(map[string]string, 1)
		}
		c.msg.Headers[FenceHeader] = strconv.FormatUint(fence(claimNo, len(out)), 10)
		c.msg.CreatedAt = fromMicros(created)
		c.msg.ExpiresAt = fromMicros(expires)
		c.expired = expires != 0 && expires <= now
		out = append(out, c)
	}
	if err = rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, tx.Commit()
	}
	keys := make([]string, len(out))
	for i := range out {
		keys[i] = out[i].msg.Key
	}
	slices.Sort(keys) // one lock order for every statement that locks leases
	keys = slices.Compact(keys)
	us := ttl.Microseconds()
	for start := 0; start < len(keys); start += maxRowsPerStatement {
		chunk := keys[start:min(start+maxRowsPerStatement, len(keys))]
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, k, owner, us)
		}
		if _, err = tx.ExecContext(ctx, o.q.upsertLeases(len(chunk)), args...); err != nil {
			return nil, err
		}
	}
	if err = tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

func (o *Outbox) renew(ctx context.Context, owner string, ttl time.Duration) (int64, error) {
	res, err := o.db.ExecContext(ctx, o.q.renew, ttl.Microseconds(), owner)
	if err != nil {
		return 0, fmt.Errorf("outbox: renew leases: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("outbox: renew leases: %w", err)
	}
	return n, nil
}

func (o *Outbox) ack(ctx context.Context, owner string, out []outcome, retain bool) (err error) {
	tx, err := o.begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox: ack: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("outbox: ack: %w", err)
		}
	}()
	// Release the leases, and learn which keys this relay still held: the
	// outcomes of the others are not its to record. It lost them while
	// paused for longer than the lease, another relay took them over and
	// published or is publishing them; recording would delete or delay
	// rows that relay is responsible for.
	held, err := o.release(ctx, tx, owner)
	if err != nil {
		return err
	}
	var gone, done []any // rows to delete; published rows to keep
	var blocked []outcome
	for i := range out {
		r := &out[i]
		if _, ok := held[r.key]; !ok {
			r.kind = lost
			continue
		}
		switch r.kind {
		case published:
			if retain {
				done = append(done, r.seq)
			} else {
				gone = append(gone, r.seq)
			}
		case dead:
			if _, err = tx.ExecContext(ctx, o.q.deadFromOutbox, r.attempts, nullString(r.err), r.reason, r.seq); err != nil {
				return err
			}
			gone = append(gone, r.seq)
		case failed:
			if _, err = tx.ExecContext(ctx, o.q.failed, r.attempts, nullString(r.err), r.delay.Microseconds(), r.seq); err != nil {
				return err
			}
			blocked = append(blocked, *r)
		}
	}
	if err = o.execChunks(ctx, tx, gone, func(n int) string { return o.q.deleteSeqs(o.q.table, n) }); err != nil {
		return err
	}
	if err = o.execChunks(ctx, tx, done, o.q.markPublished); err != nil {
		return err
	}
	if len(blocked) > 0 {
		// Keep the failed keys out of the claims' scan window while they
		// back off, so that a key with a long backlog behind a failing
		// message does not crowd out the others.
		slices.SortFunc(blocked, func(a, b outcome) int {
			if a.key < b.key {
				return -1
			}
			if a.key > b.key {
				return 1
			}
			return 0
		})
		blocked = slices.CompactFunc(blocked, func(a, b outcome) bool { return a.key == b.key })
		args := make([]any, 0, 2*len(blocked))
		for _, b := range blocked {
			args = append(args, b.key, b.delay.Microseconds())
		}
		if _, err = tx.ExecContext(ctx, o.q.markers(len(blocked)), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// release deletes owner's leases in tx and returns the keys they were for.
func (o *Outbox) release(ctx context.Context, tx *sql.Tx, owner string) (map[string]struct{}, error) {
	q := o.q.release
	if o.d == MySQL {
		q = o.q.held
	}
	rows, err := tx.QueryContext(ctx, q, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := map[string]struct{}{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		held[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if o.d == MySQL {
		if _, err := tx.ExecContext(ctx, o.q.release, owner); err != nil {
			return nil, err
		}
	}
	return held, nil
}

// execChunks runs stmt(n) with args, at most maxRowsPerStatement at a time.
func (o *Outbox) execChunks(ctx context.Context, tx *sql.Tx, args []any, stmt func(n int) string) error {
	for start := 0; start < len(args); start += maxRowsPerStatement {
		chunk := args[start:min(start+maxRowsPerStatement, len(args))]
		if _, err := tx.ExecContext(ctx, stmt(len(chunk)), chunk...); err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox) purge(ctx context.Context, retention time.Duration) (int64, error) {
	res, err := o.db.ExecContext(ctx, o.q.purge, retention.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("outbox: purge: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// DefaultInboxTable is the name of the inbox table when InboxConfig.Table is
// empty.
const DefaultInboxTable = "inbox"

// InboxConfig configures an Inbox. Dialect is required.
type InboxConfig struct {
	// Dialect is the SQL flavour of the consumer's database. Required.
	Dialect Dialect
	// Table is the name of the table of processed message IDs, validated
	// like Config.Table. Empty means DefaultInboxTable ("inbox").
	Table string
}

// Inbox gives a consumer exactly-once effects on top of at-least-once
// delivery: it records the ID of every message it processed in the same
// transaction as the effects of processing it, and skips a message whose ID
// is recorded. Make one with NewInbox; it is safe for concurrent use.
type Inbox struct {
	db                   *sql.DB
	d                    Dialect
	table, insert, purge string
	// The high-water marks of ProcessFenced, in Table+"_keys".
	raise, addKey, purgeKeys string
}

// NewInbox returns an Inbox over db. It panics with an "outbox: ..."
// message when db is nil, the dialect is unknown or the table name is
// invalid.
func NewInbox(db *sql.DB, c InboxConfig) *Inbox {
	if db == nil {
		panic("outbox: NewInbox with a nil *sql.DB")
	}
	if !sqldialect.Valid(c.Dialect) {
		panic(fmt.Sprintf("outbox: InboxConfig.Dialect must be Postgres, MySQL or SQLite, not %v", c.Dialect))
	}
	if c.Table == "" {
		c.Table = DefaultInboxTable
	}
	sqldialect.CheckTable("outbox", c.Dialect, c.Table)
	in := &Inbox{db: db, d: c.Dialect, table: c.Table}
	t, now := sqldialect.Qualified(c.Dialect, c.Table, ""), nowExpr(c.Dialect)
	switch c.Dialect {
	case MySQL:
		// INSERT IGNORE reports 0 rows for a duplicate whatever the
		// connection's clientFoundRows setting; the values it inserts
		// cannot fail any other way.
		in.insert = "INSERT IGNORE INTO " + t + " (id, processed_at) VALUES (?, " + now + ")"
	default:
		in.insert = sqldialect.Rebind(c.Dialect, "INSERT INTO "+t+" (id, processed_at) VALUES (?, "+now+") ON CONFLICT (id) DO NOTHING")
	}
	in.purge = sqldialect.Rebind(c.Dialect, "DELETE FROM "+t+" WHERE processed_at < "+now+" - ?")
	k := sqldialect.Qualified(c.Dialect, c.Table, "_keys")
	in.raise = sqldialect.Rebind(c.Dialect, "UPDATE "+k+" SET fence = ?, processed_at = "+now+" WHERE msg_key = ? AND fence < ?")
	switch c.Dialect {
	case MySQL:
		in.addKey = "INSERT IGNORE INTO " + k + " (msg_key, fence, processed_at) VALUES (?, ?, " + now + ")"
	default:
		in.addKey = sqldialect.Rebind(c.Dialect, "INSERT INTO "+k+" (msg_key, fence, processed_at) VALUES (?, ?, "+now+") ON CONFLICT (msg_key) DO NOTHING")
	}
	in.purgeKeys = sqldialect.Rebind(c.Dialect, "DELETE FROM "+k+" WHERE processed_at < "+now+" - ?")
	return in
}

// Migrate creates the inbox table, and the table of the keys' high-water
// marks (Table+"_keys", used by ProcessFenced), if they do not exist.
func (in *Inbox) Migrate(ctx context.Context) error {
	t := sqldialect.Qualified(in.d, in.table, "")
	k := sqldialect.Qualified(in.d, in.table, "_keys")
	var s []string
	switch in.d {
	case Postgres:
		s = []string{
			"CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, processed_at BIGINT NOT NULL)",
			"CREATE TABLE IF NOT EXISTS " + k + ` (msg_key TEXT COLLATE "C" PRIMARY KEY, fence BIGINT NOT NULL, processed_at BIGINT NOT NULL)`,
		}
	case MySQL:
		const opts = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
		s = []string{
			"CREATE TABLE IF NOT EXISTS " + t + " (id VARCHAR(" + strconv.Itoa(MaxIDLen) +
				") NOT NULL PRIMARY KEY, processed_at BIGINT NOT NULL)" + opts,
			"CREATE TABLE IF NOT EXISTS " + k + " (msg_key VARCHAR(" + strconv.Itoa(MaxKeyLen) +
				") NOT NULL PRIMARY KEY, fence BIGINT NOT NULL, processed_at BIGINT NOT NULL)" + opts,
		}
	default:
		s = []string{
			"CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, processed_at INTEGER NOT NULL)",
			"CREATE TABLE IF NOT EXISTS " + k + " (msg_key TEXT PRIMARY KEY, fence INTEGER NOT NULL, processed_at INTEGER NOT NULL)",
		}
	}
	return migrate(ctx, in.db, in.d, in.table, s)
}

// Process runs fn, within tx, unless the message messageID was processed
// before; it reports whether fn ran. It records messageID in tx first
// (insert-if-absent: ON CONFLICT DO NOTHING, or INSERT IGNORE on MySQL), so
// the record commits or rolls back with fn's effects:
//
//   - fn returned nil and the caller commits: effects and record stay, and
//     a redelivery of the message is skipped (false, nil);
//   - fn failed: Process returns its error; the caller rolls back, the
//     record goes with the effects, and a redelivery runs fn again.
//
// Two consumers given the same message at once are serialized by the
// database: the second one's insert waits for the first transaction, then
// finds the record (and skips) or not (and runs fn). The caller owns tx:
// Process neither commits nor rolls it back. An empty or too long
// messageID, or one that is not valid UTF-8 or holds a NUL, is an error
// matching ErrInvalidMessage, returned before tx is used.
func (in *Inbox) Process(ctx context.Context, tx *sql.Tx, messageID string, fn func(ctx context.Context, tx *sql.Tx) error) (bool, error) {
	if err := checkID(messageID); err != nil {
		return false, err
	}
	return in.process(ctx, tx, messageID, fn)
}

// checkID refuses a message ID the inbox cannot store exactly.
func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: inbox message ID must have 1 to %d bytes", ErrInvalidMessage, MaxIDLen)
	}
	return text("inbox message ID", id)
}

// process is Process with messageID checked.
func (in *Inbox) process(ctx context.Context, tx *sql.Tx, messageID string, fn func(ctx context.Context, tx *sql.Tx) error) (bool, error) {
	res, err := tx.ExecContext(ctx, in.insert, messageID)
	if err != nil {
		return false, fmt.Errorf("outbox: inbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("outbox: inbox: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if err := fn(ctx, tx); err != nil {
		return true, err
	}
	return true, nil
}

// ProcessFenced is Process for a message sent by a relay, which carries a
// fence (its FenceHeader, read with ParseFence): it also keeps, per key,
// the highest fence processed, and skips (false, nil) a message whose fence
// is not above it. Such a message is a copy sent late by a relay that had
// lost its lease (it was paused longer than its lease, and another relay
// took the key over and published further); processing it would undo the
// key's order. The mark is raised in tx, with the record of the ID, so it
// commits or rolls back with fn's effects; a message of a newer fence whose
// ID was processed before (the other relay's copy of it) raises the mark
// and is skipped.
//
// A fence of 0 (a message without a FenceHeader) is not compared: the
// message is deduplicated by ID only, as Process does. key is the message's
// Key; the same checks as the ID's apply to it (at most MaxKeyLen bytes,
// valid UTF-8, no NUL).
func (in *Inbox) ProcessFenced(ctx context.Context, tx *sql.Tx, messageID, key string, fence uint64, fn func(ctx context.Context, tx *sql.Tx) error) (bool, error) {
	if fence == 0 {
		return in.Process(ctx, tx, messageID, fn)
	}
	if err := checkID(messageID); err != nil {
		return false, err
	}
	if len(key) > MaxKeyLen {
		return false, fmt.Errorf("%w: inbox key longer than %d bytes", ErrInvalidMessage, MaxKeyLen)
	}
	if err := text("inbox key", key); err != nil {
		return false, err
	}
	if fence > 1<<63-1 {
		return false, fmt.Errorf("%w: fence %d out of range", ErrInvalidMessage, fence)
	}
	f := int64(fence)
	// Raise the mark; if it did not move, the key is new (insert it) or
	// the mark is already there. A concurrent first message of the key
	// makes the insert wait and find its row: raise again, against it.
	for _, step := range [...]struct {
		q    string
		args []any
	}{
		{in.raise, []any{f, key, f}},
		{in.addKey, []any{key, f}},
		{in.raise, []any{f, key, f}},
	} {
		res, err := tx.ExecContext(ctx, step.q, step.args...)
		if err != nil {
			return false, fmt.Errorf("outbox: inbox: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("outbox: inbox: %w", err)
		}
		if n > 0 {
			return in.process(ctx, tx, messageID, fn)
		}
	}
	return false, nil
}

// Purge deletes the records of messages processed more than olderThan ago,
// and the high-water marks of keys that saw no message for as long, and
// returns how many records it deleted. A message redelivered after its
// record was purged is processed again, and a late copy of a key's message
// after its mark was purged is not recognized as late, so keep them longer
// than the broker may redeliver (its deduplication window or retention).
func (in *Inbox) Purge(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := in.db.ExecContext(ctx, in.purge, olderThan.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("outbox: inbox purge: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := in.db.ExecContext(ctx, in.purgeKeys, olderThan.Microseconds()); err != nil {
		return n, fmt.Errorf("outbox: inbox purge: %w", err)
	}
	return n, nil
}

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
	return in
}

// Migrate creates the inbox table if it does not exist.
func (in *Inbox) Migrate(ctx context.Context) error {
	t := sqldialect.Qualified(in.d, in.table, "")
	var s string
	switch in.d {
	case Postgres:
		s = "CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, processed_at BIGINT NOT NULL)"
	case MySQL:
		s = "CREATE TABLE IF NOT EXISTS " + t + " (id VARCHAR(" + strconv.Itoa(MaxIDLen) +
			") NOT NULL PRIMARY KEY, processed_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	default:
		s = "CREATE TABLE IF NOT EXISTS " + t + " (id TEXT PRIMARY KEY, processed_at INTEGER NOT NULL)"
	}
	return migrate(ctx, in.db, in.d, in.table, []string{s})
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
	if messageID == "" || len(messageID) > MaxIDLen {
		return false, fmt.Errorf("%w: inbox message ID must have 1 to %d bytes", ErrInvalidMessage, MaxIDLen)
	}
	if err := text("inbox message ID", messageID); err != nil {
		return false, err
	}
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

// Purge deletes the records of messages processed more than olderThan ago
// and returns how many it deleted. A message redelivered after its record
// was purged is processed again, so keep records longer than the broker
// may redeliver (its deduplication window or retention).
func (in *Inbox) Purge(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := in.db.ExecContext(ctx, in.purge, olderThan.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("outbox: inbox purge: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

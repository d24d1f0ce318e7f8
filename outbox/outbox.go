package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// DefaultTable is the name of the outbox table when Config.Table is empty.
const DefaultTable = "outbox"

// Limits on the fields of a Message, checked by Add.
const (
	MaxIDLen    = 64
	MaxTopicLen = 255
	MaxKeyLen   = 255
)

// maxRowsPerStatement keeps multi-row statements under every dialect's limit
// of bound parameters (SQLite: 32766, PostgreSQL and MySQL: 65535).
const maxRowsPerStatement = 1000

// Config configures an Outbox. Dialect is required; the zero value of every
// other field means its documented default. A Config is a plain value.
type Config struct {
	// Dialect is the SQL flavour of the database. Required.
	Dialect Dialect

	// Table is the name of the outbox table, optionally schema-qualified
	// ("events.outbox"; not on SQLite): letters, digits and underscores.
	// The outbox also uses Table+"_dead" (dead letters) and Table+"_lease"
	// (keys being published), and on MySQL Table+"_lock" and, with
	// LockKeys, Table+"_keylock". Empty means DefaultTable ("outbox").
	Table string

	// LockKeys makes Add take a lock per message key that lasts until the
	// caller's transaction ends, so that two transactions writing the same
	// key are serialized and the outbox's insertion order of a key is its
	// commit order even when those transactions run concurrently and both
	// commit before a relay looks (see "Ordering" in the package
	// documentation). Leave it off when the transactions that write a key
	// already lock a common row, such as the aggregate the key names. On
	// PostgreSQL the locks are transaction-level advisory locks, on MySQL
	// rows of Table+"_keylock"; SQLite has a single writer and needs none.
	// It costs Add one more statement.
	LockKeys bool

	// MaxMessageBytes is the largest message Add accepts: its payload and
	// the names and values of its headers. A larger one is refused with an
	// error matching ErrInvalidMessage that says both sizes, rather than
	// stored to fail at the broker (NATS refuses messages over its
	// max_payload, 1 MiB by default; Kafka's message.max.bytes is about the
	// same) or to swell a relay's batch. Zero means DefaultMaxMessageBytes
	// (1 MiB); negative panics.
	MaxMessageBytes int

	// Name names the outbox for telemetry (logs, metrics labels): the Name
	// of its events, and Outbox.Name. Zero means "".
	Name string

	// Observer, when not nil, is told of the Outbox's own doings, as
	// resilience.Events with Policy "outbox" and Name the Outbox's Name,
	// on the caller's goroutine with its context: an EventRedrive (Count:
	// how many) each time Redrive moved dead letters back. What a relay
	// does is told to RelayConfig.Observer, which may be the same. See
	// "Events" in the package documentation. Zero means no observer:
	// nothing is reported and nothing is paid. A typed nil panics in New.
	Observer resilience.Observer
}

// DefaultMaxMessageBytes is the default of Config.MaxMessageBytes.
const DefaultMaxMessageBytes = 1 << 20

// Outbox writes messages into the outbox table in the caller's
// transactions, for a Relay to publish. Make one with New; the zero value is
// not usable. An Outbox is safe for concurrent use and holds no connection
// of its own: it uses the *sql.DB given to New only for Migrate, Stats, the
// dead-letter operations and its relays.
type Outbox struct {
	db       *sql.DB
	d        Dialect
	table    string // as configured, e.g. "events.outbox"
	lockKey  bool
	maxBytes int
	q        queries
	name     string
	obs      resilience.Observer
}

// New returns an Outbox for db. It panics with an "outbox: ..." message
// when db is nil, Config.Dialect is not one of the dialects or Config.Table
// is not a valid table name. It does not touch the database: call Migrate
// once (at start-up, or from your migration tool) to create the tables.
func New(db *sql.DB, c Config) *Outbox {
	if db == nil {
		panic("outbox: New with a nil *sql.DB")
	}
	if !sqldialect.Valid(c.Dialect) {
		panic(fmt.Sprintf("outbox: Config.Dialect must be Postgres, MySQL or SQLite, not %v", c.Dialect))
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	sqldialect.CheckTable("outbox", c.Dialect, c.Table)
	switch {
	case c.MaxMessageBytes < 0:
		panic("outbox: Config.MaxMessageBytes is negative")
	case c.MaxMessageBytes == 0:
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Observer != nil && typedNil(c.Observer) {
		panic(fmt.Sprintf("outbox: Config.Observer is a nil %T", c.Observer))
	}
	return &Outbox{db: db, d: c.Dialect, table: c.Table, lockKey: c.LockKeys, maxBytes: c.MaxMessageBytes,
		q: newQueries(c.Dialect, c.Table), name: c.Name, obs: c.Observer}
}

// Name returns Config.Name: the name of the outbox for telemetry.
func (o *Outbox) Name() string { return o.name }

// Dialect returns the dialect the Outbox was made with.
func (o *Outbox) Dialect() Dialect { return o.d }

// Table returns the name of the outbox table. On PostgreSQL it is also the
// channel that Migrate's trigger notifies after every insert, which
// outbox/postgres listens to.
func (o *Outbox) Table() string { return o.table }

// DB returns the database the Outbox was made with.
func (o *Outbox) DB() *sql.DB { return o.db }

// Execer is what Add writes with: a *sql.Tx, the usual case, or a *sql.DB
// or *sql.Conn, all of which satisfy it, as do the transaction types of
// libraries that wrap database/sql.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Add writes msgs into the outbox with tx, normally the caller's
// transaction (a *sql.Tx): they are published if and only if tx commits.
// All of msgs go in one INSERT statement (one per thousand messages), in
// the order given, which is their order within their keys.
//
// Given a *sql.DB, or a *sql.Conn outside a transaction, each statement
// commits on its own: the messages are published whatever else the caller
// writes, more than a thousand of them are not written atomically, and the
// locks of Config.LockKeys last only for their statement.
//
// Add sets the ID of every message whose ID is empty to a NewID, in msgs
// itself, so a caller that passed a slice (Add(ctx, tx, batch...)) learns
// the IDs. It returns an error matching ErrInvalidMessage, and writes
// nothing (the caller's transaction goes on), when a message has no Topic,
// a field is too long (MaxIDLen, MaxTopicLen, MaxKeyLen), or a field could
// not be stored and published byte for byte: a topic, key, ID or header
// that is not valid UTF-8 or holds a NUL, a header name that is empty or
// holds a space, colon or control character, a header value with a line
// break; or a message is over Config.MaxMessageBytes. Everything Add
// accepts is published exactly as given (the payload is any bytes).
// Otherwise it returns the error of the database, if any, after which the
// caller should roll tx back. Attempts and CreatedAt are
// ignored: the database's clock sets CreatedAt.
//
// Add is safe for concurrent use, on different transactions.
func (o *Outbox) Add(ctx context.Context, tx Execer, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if tx == nil || typedNil(tx) {
		return fmt.Errorf("%w: Add needs a transaction (or a *sql.DB or *sql.Conn), not a nil %T", ErrInvalidMessage, tx)
	}
	for i := range msgs {
		if err := check(&msgs[i]); err != nil {
			return err
		}
		if n := size(&msgs[i]); n > o.maxBytes {
			return fmt.Errorf("%w: message %d of %d has %d bytes of payload and headers, over the %d of Config.MaxMessageBytes",
				ErrInvalidMessage, i+1, len(msgs), n, o.maxBytes)
		}
	}
	for i := range msgs {
		if msgs[i].ID == "" {
			msgs[i].ID = NewID()
		}
	}
	if o.lockKey {
		if err := o.lockKeys(ctx, tx, msgs); err != nil {
			return err
		}
	}
	for start := 0; start < len(msgs); start += maxRowsPerStatement {
		chunk := msgs[start:min(start+maxRowsPerStatement, len(msgs))]
		args := make([]any, 0, 7*len(chunk))
		for i := range chunk {
			m := &chunk[i]
			headers, err := encodeHeaders(m.Headers)
			if err != nil {
				return err
			}
			args = append(args, m.ID, m.Topic, m.Key, m.Payload, headers, micros(m.AvailableAt), micros(m.ExpiresAt))
		}
		if _, err := tx.ExecContext(ctx, o.q.insert(len(chunk)), args...); err != nil {
			return fmt.Errorf("outbox: add: %w", err)
		}
	}
	return nil
}

func check(m *Message) error {
	switch {
	case m.Topic == "":
		return fmt.Errorf("%w: empty topic", ErrInvalidMessage)
	case len(m.Topic) > MaxTopicLen:
		return fmt.Errorf("%w: topic longer than %d bytes", ErrInvalidMessage, MaxTopicLen)
	case len(m.Key) > MaxKeyLen:
		return fmt.Errorf("%w: key longer than %d bytes", ErrInvalidMessage, MaxKeyLen)
	case len(m.ID) > MaxIDLen:
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalidMessage, MaxIDLen)
	}
	for _, f := range [...]struct{ name, v string }{{"topic", m.Topic}, {"key", m.Key}, {"id", m.ID}} {
		if err := text(f.name, f.v); err != nil {
			return err
		}
	}
	for name, v := range m.Headers {
		if err := headerName(name); err != nil {
			return err
		}
		if strings.EqualFold(name, FenceHeader) {
			return fmt.Errorf("%w: header %s is the relay's to set", ErrInvalidMessage, FenceHeader)
		}
		if err := text("header "+strconv.Quote(name), v); err != nil {
			return err
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%w: header %q has a line break in its value", ErrInvalidMessage, name)
		}
	}
	return nil
}

// size is what a message counts against Config.MaxMessageBytes.
func size(m *Message) int {
	n := len(m.Payload)
	for k, v := range m.Headers {
		n += len(k) + len(v)
	}
	return n
}

// text checks that v can be stored and published byte for byte: valid
// UTF-8 (every dialect stores text columns as UTF-8, and PostgreSQL refuses
// anything else, aborting the caller's transaction) without NUL (which
// PostgreSQL cannot store in text at all).
func text(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidMessage, field, v)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s %q contains NUL", ErrInvalidMessage, field, v)
	}
	return nil
}

// headerName checks a header's name: what every broker carries as a name
// (NATS and the MIME rules its headers follow are the narrowest): not empty,
// valid UTF-8, no control character, space or colon.
func headerName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty header name", ErrInvalidMessage)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: header name %q is not valid UTF-8", ErrInvalidMessage, name)
	}
	for _, r := range name {
		if r <= ' ' || r == ':' || r == 0x7f {
			return fmt.Errorf("%w: header name %q has a space, colon or control character", ErrInvalidMessage, name)
		}
	}
	return nil
}

// lockKeys takes the per-key locks of LockKeys, in one order for every
// transaction (sorted hashes) so that two Adds cannot deadlock each other.
func (o *Outbox) lockKeys(ctx context.Context, tx Execer, msgs []Message) error {
	var ids []int64
	switch o.d {
	case Postgres:
		for i := range msgs {
			ids = append(ids, keyHash(o.table, msgs[i].Key))
		}
	case MySQL:
		for i := range msgs {
			ids = append(ids, keyHash(o.table, msgs[i].Key)&0xffff)
		}
	default:
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var q string
	if o.d == Postgres {
		q = "SELECT pg_advisory_xact_lock(v.k) FROM (VALUES " + strings.Repeat("(?::BIGINT),", len(ids)-1) + "(?::BIGINT)) AS v(k)"
	} else {
		q = "INSERT INTO " + o.q.keylock + " (k) VALUES " + placeholders(len(ids), 1) + " ON DUPLICATE KEY UPDATE k = k"
	}
	if _, err := tx.ExecContext(ctx, sqldialect.Rebind(o.d, q), args...); err != nil {
		return fmt.Errorf("outbox: lock keys: %w", err)
	}
	return nil
}

func keyHash(table, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int64(h.Sum64() >> 1)
}

func encodeHeaders(h map[string]string) (any, error) {
	if len(h) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("%w: headers: %v", ErrInvalidMessage, err)
	}
	return string(b), nil
}

func decodeHeaders(s sql.NullString) (map[string]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(s.String), &h); err != nil {
		return nil, fmt.Errorf("outbox: headers: %w", err)
	}
	return h, nil
}

// micros is t in microseconds since the Unix epoch, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// Stats is a snapshot of an outbox, read by Outbox.Stats.
type Stats struct {
	// Backlog is how many messages are waiting to be published, including
	// delayed ones and those backing off after a failure.
	Backlog int64
	// Lag is the age of the oldest message waiting, by the database's
	// clock; zero when none is waiting.
	Lag time.Duration
	// Dead is how many messages are in the dead-letter table.
	Dead int64
}

// Stats reads the backlog, the lag and the number of dead letters. Each
// call counts the waiting rows, which takes time proportional to the
// backlog: call it every few seconds for a gauge, not per message.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	var oldest, now int64
	if err := o.db.QueryRowContext(ctx, o.q.stats).Scan(&s.Backlog, &oldest, &now); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	if s.Backlog > 0 && oldest > 0 && now > oldest {
		s.Lag = time.Duration(now-oldest) * time.Microsecond
	}
	if err := o.db.QueryRowContext(ctx, o.q.deadCount).Scan(&s.Dead); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	return s, nil
}

package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// DefaultTable is the table an SQLStore keeps its records in unless
// SQLConfig.Table says otherwise.
const DefaultTable = "idempotency_keys"

// sqliteBusyAttempts bounds how many times an SQLStore on SQLite runs a
// statement that SQLite refused with SQLITE_BUSY without waiting for its
// busy timeout.
const sqliteBusyAttempts = 10

// acquireAttempts bounds how many times Acquire starts again when the
// record it did not acquire was gone (released, or completed with an
// Expires already past) before it could read it.
const acquireAttempts = 8

// SQLConfig configures an SQLStore. Dialect is required; the zero value of
// every other field means its default.
type SQLConfig struct {
	// Dialect is the SQL flavour of the database: Postgres, MySQL or
	// SQLite, or the Dialect constant of the driver module that opened
	// the *sql.DB (outbox/postgres, outbox/mysql, outbox/sqlite).
	// Required.
	Dialect Dialect
	// Table is the table of the records, optionally schema-qualified on
	// PostgreSQL and MySQL ("app.idempotency_keys"): letters, digits and
	// underscores, at most 54 bytes without the schema. Zero means
	// DefaultTable.
	Table string
	// MaxOutcomeBytes is the largest outcome the store keeps; Complete
	// refuses a larger one with ErrTooLarge. On MySQL it must fit in the
	// server's max_allowed_packet (16 MiB on MariaDB, 64 MiB on MySQL by
	// default). Zero means DefaultMaxOutcomeBytes.
	MaxOutcomeBytes int
}

// SQLStore is a Store in a table of a PostgreSQL, MySQL/MariaDB or SQLite
// database, through database/sql (the package imports no driver; the
// modules outbox/postgres, outbox/mysql and outbox/sqlite open one each).
// Create it with NewSQLStore and create its table with Migrate; it is safe
// for concurrent use by many goroutines and many processes, and it has no
// goroutine.
//
// Records live in the database, so they survive a restart of the process
// and are shared by every instance of a service. CompleteTx stores an
// outcome inside a transaction of the caller's: with the state change and
// an outbox event in that same transaction, the effects of a request
// happen exactly once.
//
// Time: Expires is kept in milliseconds since the Unix epoch (a finer one
// is truncated), and whether a record expired is decided by the now each
// caller passes, that is by the clock of the application server that
// calls, never by the database's. Keep the clocks of the servers in sync
// (NTP), and make leases much longer than their skew: a server whose clock
// runs ahead by more than a lease takes over records that others still
// execute.
//
// Expired records stay in the table until they are replaced by an Acquire
// of their key or deleted by Purge; call Purge periodically (say every
// minute, from one process or from each) to keep the table small.
//
// On MySQL, Acquire tells the record it inserted from one stored before by
// its token, so tokens must be unique, as the random ones of Keys are. On
// SQLite, where a database has one writer at a time, open the database with
// a busy timeout (outbox/sqlite.Open sets 10 s); a statement SQLite refuses
// with SQLITE_BUSY without waiting is run again, up to 10 times.
type SQLStore struct {
	db     *sql.DB
	d      Dialect
	table  string
	maxOut int
	q      sqlQueries
}

// NewSQLStore returns an SQLStore on db. It panics with an
// "idempotency: ..." message when db is nil, c.Dialect is not one of the
// dialects, c.Table is not a valid table name or c.MaxOutcomeBytes is
// negative. It does not touch the database.
func NewSQLStore(db *sql.DB, c SQLConfig) *SQLStore {
	if db == nil {
		panic("idempotency: NewSQLStore with a nil *sql.DB")
	}
	if !sqldialect.Valid(c.Dialect) {
		panic(fmt.Sprintf("idempotency: SQLConfig.Dialect must be Postgres, MySQL or SQLite, not %v", c.Dialect))
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	sqldialect.CheckTable("idempotency", c.Dialect, c.Table)
	switch {
	case c.MaxOutcomeBytes < 0:
		panic(fmt.Sprintf("idempotency: SQLConfig.MaxOutcomeBytes is negative (%d)", c.MaxOutcomeBytes))
	case c.MaxOutcomeBytes == 0:
		c.MaxOutcomeBytes = DefaultMaxOutcomeBytes
	}
	return &SQLStore{db: db, d: c.Dialect, table: c.Table, maxOut: c.MaxOutcomeBytes, q: newSQLQueries(c.Dialect, c.Table)}
}

// Table returns the name of the store's table, as configured.
func (s *SQLStore) Table() string { return s.table }

// Schema returns the statements Migrate runs, in order, for migration tools
// that keep their own files.
func (s *SQLStore) Schema() []string { return append([]string(nil), s.q.schema...) }

// Migrate creates the store's table and its index on expires_ms when they
// do not exist, and leaves them alone when they do: it is safe to call at
// every start of every process, also concurrently (on PostgreSQL an
// advisory lock serializes concurrent calls; MySQL creates the table and
// its index in one statement).
func (s *SQLStore) Migrate(ctx context.Context) error {
	err := s.retry(ctx, func() error {
		if s.d == MySQL {
			_, err := s.db.ExecContext(ctx, s.q.schema[0])
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if s.d == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", sqldialect.LockID("resilience/idempotency:"+s.table+"/migrate")); err != nil {
				return err
			}
		}
		for _, q := range s.q.schema {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("idempotency: migrate %s: %w", s.table, err)
	}
	return nil
}

// Acquire implements Store. It takes one statement when it creates the
// record on PostgreSQL and SQLite, and two otherwise.
func (s *SQLStore) Acquire(ctx context.Context, r Record, now time.Time) (live Record, acquired bool, err error) {
	if err := checkRecord(&r); err != nil {
		return Record{}, false, err
	}
	key, tok, fp := sqlBytes(r.Key), sqlBytes(r.Token), sqlBytes(r.Fingerprint)
	args := acquireArgs(s.d, key, tok, fp, r.Expires.UnixMilli(), now.UnixMilli())
	for range acquireAttempts {
		var found bool
		err := s.retry(ctx, func() error {
			res, err := s.db.ExecContext(ctx, s.q.acquire, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			// MySQL counts 2 for a row it updated (taken over), 1 for
			// one it inserted, and 0 for one it left alone, or 1 with
			// clientFoundRows: its 1 needs the token to be read.
			if n == 2 || (n == 1 && s.d != MySQL) {
				acquired = true
				return nil
			}
			live, found, err = s.read(ctx, r.Key)
			return err
		})
		switch {
		case err != nil:
			return Record{}, false, fmt.Errorf("idempotency: acquire: %w", err)
		case acquired:
			return Record{}, true, nil
		case found && s.d == MySQL && !live.Done && live.Token == r.Token:
			return Record{}, true, nil
		case !found || !live.Expires.After(now):
			continue // gone before it could be read: try again
		}
		return live, false, nil
	}
	return Record{}, false, fmt.Errorf("idempotency: acquire: the record of the key changed %d times while it was read", acquireAttempts)
}

// read returns the record of key.
func (s *SQLStore) read(ctx context.Context, key string) (Record, bool, error) {
	var tok, fp, out []byte
	var done bool
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q.selectLive, sqlBytes(key)).Scan(&tok, &fp, &done, &exp, &out)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	r := Record{Key: key, Token: string(tok), Fingerprint: string(fp), Done: done, Expires: time.UnixMilli(exp)}
	if done {
		r.Outcome = out
	}
	return r, true, nil
}

// Complete implements Store, with one statement.
func (s *SQLStore) Complete(ctx context.Context, r Record, now time.Time) error {
	args, err := s.completeArgs(&r)
	if err != nil {
		return err
	}
	return s.retry(ctx, func() error { return s.complete(ctx, s.db, args) })
}

// CompleteTx is Complete inside tx, a transaction of the caller's on the
// store's database: the outcome is stored when tx commits, with whatever
// else tx wrote (the state change, an outbox message), and not at all when
// it rolls back. Until then the record stays in progress, and an Acquire
// of its key in another transaction does not see the outcome.
//
// A refused record (ErrTooLarge, or one beyond the bounds of a Record) is
// refused before tx is used, so tx can go on: Keys then stores a smaller
// outcome in its place. ErrLeaseLost means another execution took the
// record over: roll tx back. On PostgreSQL, any other error aborts tx.
func (s *SQLStore) CompleteTx(ctx context.Context, tx *sql.Tx, r Record, now time.Time) error {
	if tx == nil {
		return errors.New("idempotency: CompleteTx with a nil *sql.Tx")
	}
	args, err := s.completeArgs(&r)
	if err != nil {
		return err
	}
	return s.complete(ctx, tx, args)
}

func (s *SQLStore) completeArgs(r *Record) ([]any, error) {
	if err := checkRecord(r); err != nil {
		return nil, err
	}
	if len(r.Outcome) > s.maxOut {
		return nil, ErrTooLarge
	}
	out := r.Outcome
	if out == nil {
		out = []byte{}
	}
	return []any{out, sqlBytes(r.Fingerprint), r.Expires.UnixMilli(), sqlBytes(r.Key), sqlBytes(r.Token)}, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *SQLStore) complete(ctx context.Context, e execer, args []any) error {
	n, err := s.exec(ctx, e, s.q.complete, args...)
	if err != nil {
		return fmt.Errorf("idempotency: complete: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Extend implements Store, with one statement (on MySQL two when the lease
// already ended at until).
func (s *SQLStore) Extend(ctx context.Context, key, token string, until time.Time) error {
	k, t := sqlBytes(key), sqlBytes(token)
	var n int64
	err := s.retry(ctx, func() error {
		var err error
		n, err = s.exec(ctx, s.db, s.q.extend, until.UnixMilli(), k, t)
		if err != nil || n > 0 || s.d != MySQL {
			return err
		}
		// MySQL counts no row for an update that changed nothing: an
		// Extend to the Expires the record already has.
		err = s.db.QueryRowContext(ctx, s.q.held, k, t).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		n = 1
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: extend: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Release implements Store, with one statement.
func (s *SQLStore) Release(ctx context.Context, key, token string) error {
	var n int64
	err := s.retry(ctx, func() error {
		var err error
		n, err = s.exec(ctx, s.db, s.q.release, sqlBytes(key), sqlBytes(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: release: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Purge deletes records whose Expires is not after now, at most limit of
// them, earliest first, with one statement, and returns how many it
// deleted. Call it periodically with a limit that keeps each statement
// short (say 1000), again at once while it returns limit: the store has no
// goroutine of its own to do it. It returns an error when limit is not
// positive.
func (s *SQLStore) Purge(ctx context.Context, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("idempotency: Purge with a limit of %d (want at least 1)", limit)
	}
	args := []any{now.UnixMilli(), int64(limit)}
	if s.d != MySQL {
		args = []any{now.UnixMilli(), now.UnixMilli(), int64(limit)}
	}
	var n int64
	err := s.retry(ctx, func() error {
		var err error
		n, err = s.exec(ctx, s.db, s.q.purge, args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idempotency: purge: %w", err)
	}
	return n, nil
}

func (s *SQLStore) exec(ctx context.Context, e execer, q string, args ...any) (int64, error) {
	res, err := e.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// retry runs f once, or on SQLite again while it fails with SQLITE_BUSY.
func (s *SQLStore) retry(ctx context.Context, f func() error) error {
	if s.d != SQLite {
		return f()
	}
	return sqldialect.RetryBusy(ctx, sqliteBusyAttempts, f)
}

// sqlBytes returns s as a non-nil byte slice: drivers store a nil one as
// NULL, and SQLite keeps a string as TEXT, which never equals a BLOB.
func sqlBytes(s string) []byte { return append(make([]byte, 0, len(s)), s...) }

// SQLStore completes records in the caller's transactions.
var _ TxStore = (*SQLStore)(nil)

package idempotency

import (
	"context"
	"errors"
	"time"
)

// A Store keeps the records of idempotency keys. The stores of this module
// are MemoryStore, SQLStore (PostgreSQL, MySQL/MariaDB, SQLite through
// database/sql) and the Redis store of the nested module
// idempotency/redis; each passes the conformance suite of package
// idempotencytest.
//
// Time is a parameter: every method that decides by time is given now (the
// caller's clock) rather than reading the store's, so that the caller
// decides what "expired" means and tests can move time. A Store compares
// Record.Expires with the now it is given and never with a clock of its own
// (a store may still use its own expiry to reclaim space, after Expires).
//
// A record is in progress from Acquire until Complete or Release. Its
// Expires is then the end of its lease: a record in progress whose lease
// has run out belongs to nobody, and the next Acquire takes it over. A
// completed record keeps its outcome until Expires. Every method but
// Acquire names the record by its key and the Token of the Acquire that
// created it, and does nothing to a record held under another token (it
// returns ErrLeaseLost), so a process that lost its lease can never
// overwrite the work of the one that took over.
//
// Implementations must be safe for concurrent use by many processes: two
// Acquires of one key, at the same time, from two processes, give the key to
// one of them.
type Store interface {
	// Acquire creates r, a record in progress (r.Done is false and
	// r.Outcome is empty), unless a live record of r.Key is stored: one
	// whose Expires is after now. It reports whether it created r; when it
	// did not, it returns the live record (with its Outcome when Done). A
	// stored record that is no longer live is replaced by r.
	Acquire(ctx context.Context, r Record, now time.Time) (live Record, acquired bool, err error)

	// Complete stores r as the outcome of the record in progress of r.Key
	// held by r.Token: it sets Done, Outcome, Fingerprint and Expires to
	// those of r. It returns ErrLeaseLost when the stored record of r.Key is
	// not one in progress under r.Token, and ErrTooLarge when the store
	// cannot keep r.Outcome (the record is then left as it was). A store
	// bounded in bytes may drop records that are not live at now to make
	// room.
	Complete(ctx context.Context, r Record, now time.Time) error

	// Extend moves the Expires of the record in progress of key held by
	// token to until. It returns ErrLeaseLost when there is no such record.
	Extend(ctx context.Context, key, token string, until time.Time) error

	// Release deletes the record in progress of key held by token, so that
	// the next Acquire of key executes. It returns ErrLeaseLost when there
	// is no such record.
	Release(ctx context.Context, key, token string) error
}

// A Record is what a Store keeps under an idempotency key.
type Record struct {
	// Key is the key the record is stored under: the idempotency key of
	// the request, prefixed by its scope (see Config.Scope). At most
	// MaxStoreKeyBytes bytes.
	Key string
	// Token names the execution that holds the record: a random string
	// made by Acquire's caller, at most 64 bytes.
	Token string
	// Fingerprint identifies the request the record answers (see
	// Config.Fingerprint), so that the same key with another request can
	// be told apart. At most 128 bytes.
	Fingerprint string
	// Done reports whether the record holds an outcome; a record not done
	// is in progress.
	Done bool
	// Expires is the end of the lease of a record in progress, and the end
	// of the life of a completed one.
	Expires time.Time
	// Outcome is the stored outcome of a completed record, opaque to the
	// store: the encoded response of Handler or the encoded value of Do.
	Outcome []byte
}

// The bounds of a Record that every Store accepts. Callers never exceed them
// (Keys checks keys and hashes long scopes), and a Store may refuse a
// record beyond them with an error.
const (
	MaxStoreKeyBytes   = 320
	MaxTokenBytes      = 64
	MaxFingerprintSize = 128
)

// DefaultMaxOutcomeBytes is the largest outcome the stores of this module
// keep unless configured otherwise: 1 MiB.
const DefaultMaxOutcomeBytes = 1 << 20

// ErrLeaseLost is returned by Store methods when the record they name is
// not (or no longer) in progress under the token they were given: its lease
// ran out and another execution took it over, or it was completed or
// released.
var ErrLeaseLost = errors.New("idempotency: lease lost")

// ErrTooLarge is returned when an outcome is larger than a store keeps.
var ErrTooLarge = errors.New("idempotency: outcome too large to store")

// ErrInvalidRecord is returned, wrapped with what is wrong, by a Store
// given a record beyond the bounds above (an empty or long key, token or
// fingerprint), before anything is stored.
var ErrInvalidRecord = errors.New("idempotency: invalid record")

// ErrStoreFull is returned by Acquire when a store bounded in keys or bytes
// holds as many live records as it may. Handler answers it with 503 Service
// Unavailable and a Retry-After, since nothing was executed.
var ErrStoreFull = errors.New("idempotency: store full")

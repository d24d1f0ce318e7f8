package redis

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/idempotency"
)

// The defaults of Config.
const (
	// DefaultPrefix is put before every key in Redis.
	DefaultPrefix = "idempotency:"
	// DefaultGrace is how long Redis keeps a record after its Expires
	// before it reclaims the record itself.
	DefaultGrace = time.Minute
	// MaxOutcomeBytesLimit is the largest Config.MaxOutcomeBytes: the
	// largest string a Redis server accepts by default
	// (proto-max-bulk-len).
	MaxOutcomeBytesLimit = 512 << 20
)

// maxMillis bounds the times a Store accepts, in Unix milliseconds either
// side of 1970: the scripts compare them as Lua numbers (doubles), which
// hold integers exactly up to 2^53 (about 285,000 years).
const maxMillis = 1 << 53

// Config holds the optional settings of NewStore. The zero value is fine.
type Config struct {
	// Prefix is put before every key in Redis, so that stores sharing a
	// Redis do not collide: stores with the same prefix share their
	// records. Zero means DefaultPrefix. On Redis Cluster, do not put a
	// hash tag ("{...}") in it: every record would land in one slot.
	Prefix string

	// MaxOutcomeBytes is the largest outcome the store keeps: Complete
	// refuses a larger one with idempotency.ErrTooLarge, before sending
	// anything to Redis. Zero means idempotency.DefaultMaxOutcomeBytes
	// (1 MiB); it may be at most MaxOutcomeBytesLimit.
	MaxOutcomeBytes int

	// Grace is how long Redis keeps a record after its Expires before it
	// deletes the record by itself (the record's PEXPIREAT is its Expires
	// plus Grace, kept to the millisecond and rounded up). Whether a record
	// is live is always decided with the caller's clock; Redis's own
	// expiry only reclaims space, so Grace must exceed how far the clocks
	// of the application servers may run behind the Redis server's:
	// otherwise Redis may delete a record that a slow-clocked server still
	// sees as live, and a repeat would execute again. Zero means
	// DefaultGrace (a minute); resilience.None means no grace at all
	// (Redis deletes the record at its Expires, by its own clock). Other
	// negative values panic.
	Grace time.Duration
}

// Store is an idempotency.Store in Redis: every record is one hash under
// Config.Prefix followed by the record's key, and each method is one round
// trip running a Lua script (EVALSHA, and EVAL when the server's script
// cache does not hold it), so that its decision is atomic across every
// process sharing the Redis. Make one with NewStore. It is safe for
// concurrent use and has no goroutine; it never closes the client.
//
// Records are bounded by idempotency's limits (MaxStoreKeyBytes,
// MaxTokenBytes, MaxFingerprintSize) and Config.MaxOutcomeBytes, checked
// before any round trip; Redis reclaims each record Config.Grace after its
// Expires. The number of records is bounded by the Redis server
// (maxmemory): a full Redis makes Acquire fail with the server's error.
//
// An error from a method whose context ended, or whose connection broke,
// after the request was sent does not say that Redis did nothing: an
// Acquire may have created a record that nobody holds. That record blocks
// its key until its lease runs out, as a crashed process's would.
type Store struct {
	client goredis.UniversalClient
	prefix string
	maxOut int
	grace  int64 // ms
}

var _ idempotency.Store = (*Store)(nil)

// NewStore returns a Store that keeps its records in Redis through client,
// which may be a single server, a failover or a Cluster client. It panics
// with an "idempotency/redis: ..." message when client is nil (or a typed
// nil) or c has a negative or too large field.
func NewStore(client goredis.UniversalClient, c Config) *Store {
	if isNil(client) {
		panic("idempotency/redis: nil client")
	}
	if c.MaxOutcomeBytes < 0 || c.MaxOutcomeBytes > MaxOutcomeBytesLimit {
		panic(fmt.Sprintf("idempotency/redis: Config.MaxOutcomeBytes %d (want 0 to %d)", c.MaxOutcomeBytes, MaxOutcomeBytesLimit))
	}
	if c.Grace < 0 && c.Grace != resilience.None {
		panic(fmt.Sprintf("idempotency/redis: negative Config.Grace %v (resilience.None means no grace)", c.Grace))
	}
	s := &Store{client: client, prefix: c.Prefix, maxOut: c.MaxOutcomeBytes}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.maxOut == 0 {
		s.maxOut = idempotency.DefaultMaxOutcomeBytes
	}
	switch g := c.Grace; {
	case g == 0:
		s.grace = DefaultGrace.Milliseconds()
	case g > 0:
		s.grace = int64(g / time.Millisecond)
		if g%time.Millisecond != 0 {
			s.grace++
		}
	}
	return s
}

func isNil(c goredis.UniversalClient) bool {
	if c == nil {
		return true
	}
	switch v := reflect.ValueOf(c); v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Acquire implements idempotency.Store.
func (s *Store) Acquire(ctx context.Context, r idempotency.Record, now time.Time) (idempotency.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return idempotency.Record{}, false, err
	}
	if err := checkRecord(&r); err != nil {
		return idempotency.Record{}, false, err
	}
	exp, err := millis("Expires", r.Expires)
	if err != nil {
		return idempotency.Record{}, false, err
	}
	at, err := millis("now", now)
	if err != nil {
		return idempotency.Record{}, false, err
	}
	v, err := acquireScript.Run(ctx, s.client, []string{s.prefix + r.Key},
		at, r.Token, r.Fingerprint, exp, exp+s.grace).Result()
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("idempotency/redis: acquire: %w", err)
	}
	switch v := v.(type) {
	case int64:
		if v == 1 {
			return idempotency.Record{}, true, nil
		}
	case []any:
		live, err := parseRecord(r.Key, v)
		if err != nil {
			return idempotency.Record{}, false, err
		}
		return live, false, nil
	}
	return idempotency.Record{}, false, fmt.Errorf("idempotency/redis: acquire: unexpected reply %v", v)
}

// parseRecord reads the live record that acquireScript returned.
func parseRecord(key string, v []any) (idempotency.Record, error) {
	if len(v) != 5 {
		return idempotency.Record{}, fmt.Errorf("idempotency/redis: live record of %d fields, want 5", len(v))
	}
	f := make([]string, len(v))
	for i, x := range v {
		s, ok := x.(string)
		if !ok {
			return idempotency.Record{}, fmt.Errorf("idempotency/redis: live record field %d is a %T", i, x)
		}
		f[i] = s
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("idempotency/redis: live record: exp: %w", err)
	}
	r := idempotency.Record{Key: key, Token: f[0], Fingerprint: f[1], Done: f[2] == "1", Expires: time.UnixMilli(exp)}
	if r.Done && f[4] != "" {
		r.Outcome = []byte(f[4])
	}
	return r, nil
}

// Complete implements idempotency.Store. The record is completed whether
// or not its lease has run out, as long as no other execution took it
// over; now is not needed.
func (s *Store) Complete(ctx context.Context, r idempotency.Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkRecord(&r); err != nil {
		return err
	}
	if len(r.Outcome) > s.maxOut {
		return idempotency.ErrTooLarge
	}
	exp, err := millis("Expires", r.Expires)
	if err != nil {
		return err
	}
	return s.run(ctx, "complete", completeScript, r.Key, r.Token, r.Fingerprint, exp, exp+s.grace, r.Outcome)
}

// Extend implements idempotency.Store.
func (s *Store) Extend(ctx context.Context, key, token string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key, token); err != nil {
		return err
	}
	exp, err := millis("until", until)
	if err != nil {
		return err
	}
	return s.run(ctx, "extend", extendScript, key, token, exp, exp+s.grace)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key, token); err != nil {
		return err
	}
	return s.run(ctx, "release", releaseScript, key, token)
}

// run runs one of the scripts that answer 1 for done and 0 for a record not
// in progress under the token.
func (s *Store) run(ctx context.Context, op string, script *goredis.Script, key string, args ...any) error {
	n, err := script.Run(ctx, s.client, []string{s.prefix + key}, args...).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("idempotency/redis: %s: %w", op, err)
	case n == 0:
		return idempotency.ErrLeaseLost
	case n != 1:
		return fmt.Errorf("idempotency/redis: %s: unexpected reply %d", op, n)
	}
	return nil
}

// checkRecord refuses a record beyond the bounds of idempotency.Store.
func checkRecord(r *idempotency.Record) error {
	if err := checkKey(r.Key, r.Token); err != nil {
		return err
	}
	if len(r.Fingerprint) > idempotency.MaxFingerprintSize {
		return fmt.Errorf("%w: fingerprint of %d bytes (want at most %d)", idempotency.ErrInvalidRecord, len(r.Fingerprint), idempotency.MaxFingerprintSize)
	}
	return nil
}

func checkKey(key, token string) error {
	switch {
	case key == "" || len(key) > idempotency.MaxStoreKeyBytes:
		return fmt.Errorf("%w: key of %d bytes (want 1 to %d)", idempotency.ErrInvalidRecord, len(key), idempotency.MaxStoreKeyBytes)
	case token == "" || len(token) > idempotency.MaxTokenBytes:
		return fmt.Errorf("%w: token of %d bytes (want 1 to %d)", idempotency.ErrInvalidRecord, len(token), idempotency.MaxTokenBytes)
	}
	return nil
}

// millis returns t in Unix milliseconds, or an error when the scripts
// could not compare it exactly.
func millis(name string, t time.Time) (int64, error) {
	// Compare seconds first: UnixMilli is undefined far from 1970.
	if s := t.Unix(); s > maxMillis/1000 || s < -maxMillis/1000 {
		return 0, fmt.Errorf("%w: %s %v is too far from 1970", idempotency.ErrInvalidRecord, name, t)
	}
	return t.UnixMilli(), nil
}

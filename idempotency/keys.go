package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// The defaults of Config.
const (
	// DefaultTTL is how long a completed record answers repeats: 24 hours,
	// as Stripe keeps its keys.
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long a record in progress is held without a
	// renewal. The execution renews it every third of the lease while it
	// runs, so only a dead process lets it run out.
	DefaultLease = 30 * time.Second
	// DefaultMaxKeyBytes is the longest idempotency key accepted.
	DefaultMaxKeyBytes = 255
	// MaxKeyBytesLimit is the largest Config.MaxKeyBytes: with the scope
	// (33 bytes) it fills MaxStoreKeyBytes.
	MaxKeyBytesLimit = MaxStoreKeyBytes - scopeBytes
	// DefaultMaxRequestBytes is how much of a request body Handler reads
	// to fingerprint it; a longer body is refused with 413.
	DefaultMaxRequestBytes = 1 << 20
	// DefaultMaxResponseBytes is the largest response body Handler stores
	// for replay: the default outcome bound of the stores less room for
	// the status and headers.
	DefaultMaxResponseBytes = DefaultMaxOutcomeBytes - maxStoredHeaderBytes - 64
)

// defaultMethods are the methods Handler guards unless Config.Methods says
// otherwise: those that are not idempotent by definition.
var defaultMethods = []string{http.MethodPost, http.MethodPatch}

// defaultHeaders are the response headers Handler stores and replays unless
// Config.Headers says otherwise.
var defaultHeaders = []string{
	"Content-Type", "Content-Language", "Content-Encoding", "Content-Location",
	"Location", "ETag", "Last-Modified", "Cache-Control", "Link", "Retry-After",
}

// Config holds the optional settings of New. The zero value is fine.
type Config struct {
	// Name names the Keys in metrics and logs.
	Name string

	// TTL is how long a completed record answers repeats of its key. Zero
	// means DefaultTTL.
	TTL time.Duration

	// Lease is how long a record in progress is held without a renewal;
	// the execution renews it every Lease/3 while it runs. A process that
	// dies holds the key this long, after which a retry executes. Zero
	// means DefaultLease; at least 3 ms.
	Lease time.Duration

	// MaxWait is how long a request waits for the execution in progress
	// of its key to finish, to be answered with its outcome. Zero means do
	// not wait: 409 Conflict at once (ErrInProgress from Do).
	// resilience.Forever waits as long as the request's context allows.
	MaxWait time.Duration

	// KeyRequired makes Handler refuse a request of a guarded method
	// without a key with 400 Bad Request. By default such a request is
	// executed without protection. Use two Keys on one Store for routes
	// that differ.
	KeyRequired bool

	// Methods are the methods Handler guards; requests of other methods
	// pass through untouched. Nil means POST and PATCH, the methods that
	// are not idempotent by definition.
	Methods []string

	// Headers are the response headers Handler stores and replays. Nil
	// means Content-Type, Content-Language, Content-Encoding,
	// Content-Location, Location, ETag, Last-Modified, Cache-Control, Link
	// and Retry-After. Others (Set-Cookie, Date, tracing headers) belong
	// to the response they were sent with, and are not replayed unless
	// named here.
	Headers []string

	// MaxKeyBytes is the longest key accepted; a longer one gets 400. Zero
	// means DefaultMaxKeyBytes; at most MaxKeyBytesLimit.
	MaxKeyBytes int

	// MaxRequestBytes is how much of a request body Handler reads to
	// fingerprint it; a longer body gets 413 Content Too Large without
	// being executed. Zero means DefaultMaxRequestBytes.
	MaxRequestBytes int64

	// MaxResponseBytes is the largest response body Handler buffers and
	// stores. A longer response is sent in full, but only the fact that
	// the key was executed is stored: a repeat gets 409 Conflict with the
	// problem type of ErrNotKept, not a second execution. Zero means
	// DefaultMaxResponseBytes. The Store's own bound on outcomes must
	// leave room for it and the headers.
	MaxResponseBytes int

	// Keep reports whether the outcome of a request that answered status
	// is stored. An outcome not stored releases the key, so that a retry
	// executes again. Nil means DefaultKeep.
	Keep func(status int) bool

	// Fingerprint identifies a request, so that the same key sent with
	// another request gets 422 instead of the first request's answer. Its
	// result is hashed (any length is fine). Nil means DefaultFingerprint.
	Fingerprint func(r *http.Request, body []byte) string

	// Scope names whose keys a request's key is among: records of
	// different scopes never answer each other, so one client cannot read
	// another's response by sending its key. Return the authenticated
	// principal (an account or user ID). Nil means DefaultScope.
	Scope func(r *http.Request) string
}

// DefaultKeep reports whether an outcome of status is stored: every status
// but 5xx (the server failed; a retry should execute again), 408 Request
// Timeout and 429 Too Many Requests (the request was not handled).
func DefaultKeep(status int) bool {
	return status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// DefaultFingerprint identifies a request by its method, path, query and
// body.
func DefaultFingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method))
	h.Write([]byte{0})
	h.Write([]byte(r.URL.EscapedPath()))
	h.Write([]byte{'?'})
	h.Write([]byte(r.URL.RawQuery))
	h.Write([]byte{0})
	h.Write(body)
	return string(h.Sum(nil))
}

// DefaultScope scopes keys by the request's Authorization header, so that
// two clients with different credentials never share a record, and
// requests without credentials share one scope. Set Config.Scope when the
// principal is known by other means (a session cookie, mTLS).
func DefaultScope(r *http.Request) string { return r.Header.Get("Authorization") }

// Keys honours idempotency keys with a Store: Handler for HTTP, Do for any
// call. Create it with New; it is safe for concurrent use.
type Keys struct {
	store   Store
	c       Config
	methods map[string]bool
	headers []string // canonical
	m       counters
}

// New returns Keys that keep their records in store, configured by c. It
// panics with an "idempotency: ..." message when store is nil or c is
// invalid.
func New(store Store, c Config) *Keys {
	if isNil(store) {
		panic("idempotency: New with a nil Store")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.MaxKeyBytes == 0 {
		c.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	switch {
	case c.TTL < 0:
		panic(fmt.Sprintf("idempotency: negative TTL %v", c.TTL))
	case c.Lease < 3*time.Millisecond:
		panic(fmt.Sprintf("idempotency: Lease %v is shorter than 3ms", c.Lease))
	case c.MaxWait < 0 && c.MaxWait != resilience.Forever:
		panic(fmt.Sprintf("idempotency: negative MaxWait %v (use resilience.Forever to wait as long as the context allows)", c.MaxWait))
	case c.MaxKeyBytes < 0 || c.MaxKeyBytes > MaxKeyBytesLimit:
		panic(fmt.Sprintf("idempotency: MaxKeyBytes %d out of range (1 to %d)", c.MaxKeyBytes, MaxKeyBytesLimit))
	case c.MaxRequestBytes < 0:
		panic(fmt.Sprintf("idempotency: negative MaxRequestBytes %d", c.MaxRequestBytes))
	case c.MaxResponseBytes < 0:
		panic(fmt.Sprintf("idempotency: negative MaxResponseBytes %d", c.MaxResponseBytes))
	}
	if c.Keep == nil {
		c.Keep = DefaultKeep
	}
	if c.Fingerprint == nil {
		c.Fingerprint = DefaultFingerprint
	}
	if c.Scope == nil {
		c.Scope = DefaultScope
	}
	if c.Methods == nil {
		c.Methods = defaultMethods
	}
	if c.Headers == nil {
		c.Headers = defaultHeaders
	}
	k := &Keys{store: store, c: c, methods: make(map[string]bool)}
	for _, m := range c.Methods {
		k.methods[m] = true
	}
	for _, h := range c.Headers {
		k.headers = append(k.headers, http.CanonicalHeaderKey(h))
	}
	return k
}

// Name returns Config.Name.
func (k *Keys) Name() string { return k.c.Name }

// Store returns the Store the Keys keep their records in.
func (k *Keys) Store() Store { return k.store }

// scopeBytes is the length of a scope in a stored key: 32 hex digits of
// its SHA-256 and a colon.
const scopeBytes = 33

// storeKey is the key a record of key in scope is stored under.
func storeKey(scope, key string) string {
	sum := sha256.Sum256([]byte(scope))
	return hex.EncodeToString(sum[:16]) + ":" + key
}

func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newToken() string { return rand.Text() }

// Metrics counts what Keys did, since New.
type Metrics struct {
	Executed   uint64 // executions started (the key was acquired)
	Replayed   uint64 // repeats answered with a stored outcome
	InProgress uint64 // repeats refused (409, ErrInProgress) while their key was executing
	Mismatched uint64 // keys sent with another request than the first (422)
	Refused    uint64 // requests refused before anything ran: missing or invalid key, body too long (400, 413)
	NotKept    uint64 // outcomes not stored by Keep (the key was released) or too large (stored as executed, without a response)
	StoreFails uint64 // store errors: the key could not be acquired (503), or an outcome not stored
	LeasesLost uint64 // executions whose record was taken over by another one while they ran
}

type counters struct {
	executed, replayed, inProgress, mismatched, refused, notKept, storeFails, leasesLost atomic.Uint64
}

// Metrics returns the counts so far.
func (k *Keys) Metrics() Metrics {
	return Metrics{
		Executed: k.m.executed.Load(), Replayed: k.m.replayed.Load(), InProgress: k.m.inProgress.Load(),
		Mismatched: k.m.mismatched.Load(), Refused: k.m.refused.Load(), NotKept: k.m.notKept.Load(),
		StoreFails: k.m.storeFails.Load(), LeasesLost: k.m.leasesLost.Load(),
	}
}

// acquire claims key for an execution under fp, waiting up to MaxWait for
// one in progress. It returns the execution (acquired) or the completed
// record of the key.
func (k *Keys) acquire(ctx context.Context, key, fp string) (*execution, Record, error) {
	var deadline time.Time
	if k.c.MaxWait > 0 {
		deadline = time.Now().Add(k.c.MaxWait)
	}
	pause := 5 * time.Millisecond
	for {
		now := time.Now()
		r := Record{Key: key, Token: newToken(), Fingerprint: fp, Expires: now.Add(k.c.Lease)}
		live, ok, err := k.store.Acquire(ctx, r, now)
		if err != nil {
			k.m.storeFails.Add(1)
			return nil, Record{}, &storeError{err}
		}
		if ok {
			k.m.executed.Add(1)
			return k.start(ctx, r), Record{}, nil
		}
		if live.Fingerprint != fp {
			k.m.mismatched.Add(1)
			return nil, Record{}, ErrMismatch
		}
		if live.Done {
			k.m.replayed.Add(1)
			return nil, live, nil
		}
		wait := pause
		if k.c.MaxWait == 0 || (!deadline.IsZero() && !now.Add(wait).Before(deadline)) {
			if !deadline.IsZero() && now.Before(deadline) {
				wait = deadline.Sub(now) // one last look at the deadline
			} else {
				k.m.inProgress.Add(1)
				return nil, Record{}, ErrInProgress
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, Record{}, context.Cause(ctx)
		case <-t.C:
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// An execution holds a record in progress and renews its lease until it
// ends.
type execution struct {
	k      *Keys
	r      Record
	ctx    context.Context // the execution's: cancelled when the lease is lost
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	timer   *time.Timer
	ended   bool
	commit  bool           // CommitTx is completing the record in a transaction
	renewal sync.WaitGroup // a renewal running
}

func (k *Keys) start(ctx context.Context, r Record) *execution {
	e := &execution{k: k, r: r}
	e.ctx, e.cancel = context.WithCancelCause(ctx)
	e.mu.Lock() // the first renewal may run before AfterFunc returns
	e.timer = time.AfterFunc(k.c.Lease/3, e.renew)
	e.mu.Unlock()
	return e
}

// renew extends the lease, and cancels the execution when it was lost.
func (e *execution) renew() {
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return
	}
	e.renewal.Add(1)
	e.mu.Unlock()
	defer e.renewal.Done()
	// The renewal goes on when the client has gone (the handler may too),
	// and takes at most a third of the lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.k.c.Lease/3)
	err := e.k.store.Extend(ctx, e.r.Key, e.r.Token, time.Now().Add(e.k.c.Lease))
	cancel()
	if errors.Is(err, ErrLeaseLost) {
		e.mu.Lock()
		commit := e.commit
		e.mu.Unlock()
		if commit {
			return // completed by CommitTx: no more renewals
		}
		e.k.m.leasesLost.Add(1)
		e.cancel(ErrLeaseLost)
		return
	}
	// A failed renewal is tried again at the next third; the lease still
	// has two thirds to run.
	e.mu.Lock()
	if !e.ended {
		e.timer.Reset(e.k.c.Lease / 3)
	}
	e.mu.Unlock()
}

// committing tells the renewals that the record is being completed in a
// transaction: an Extend that finds it done is no lost lease.
func (e *execution) committing() {
	e.mu.Lock()
	e.commit = true
	e.mu.Unlock()
}

// end stops the renewals and waits for one running.
func (e *execution) end() {
	e.mu.Lock()
	e.ended = true
	e.timer.Stop()
	e.mu.Unlock()
	e.renewal.Wait()
	e.cancel(nil)
}

// complete stores outcome under the execution's key; ctx is the caller's
// (not cancelled with the execution's).
func (e *execution) complete(ctx context.Context, outcome []byte) error {
	now := time.Now()
	r := e.r
	r.Done, r.Outcome, r.Expires = true, outcome, now.Add(e.k.c.TTL)
	return e.k.store.Complete(context.WithoutCancel(ctx), r, now)
}

// release lets a retry of the key execute again.
func (e *execution) release(ctx context.Context) {
	if err := e.k.store.Release(context.WithoutCancel(ctx), e.r.Key, e.r.Token); err != nil && !errors.Is(err, ErrLeaseLost) {
		e.k.m.storeFails.Add(1)
	}
}

// isNil reports whether s is nil or a typed nil pointer.
func isNil(s Store) bool {
	if s == nil {
		return true
	}
	v := reflect.ValueOf(s)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

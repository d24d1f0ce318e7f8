package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/resiliencekit/resilience/internal/keyed"
)

// ErrLimited is the sentinel that every rejection by a rate limiter of this
// package matches with errors.Is: a [Limiter], a [Group], a
// [Throttle], and the distributed limiter of package
// ratelimit/redis. The error returned is a [*LimitedError].
var ErrLimited = errors.New("ratelimit: limited")

// ErrThrottled is matched, besides [ErrLimited], by the rejections of a
// [Throttle]: the client dropped the call itself because the
// backend has been rejecting most calls lately.
var ErrThrottled = errors.New("ratelimit: throttled client-side")

// Reason tells why a call was limited.
type Reason uint8

const (
	// ReasonRate means the bucket had too few tokens and the call could not
	// wait for them (no MaxWait, or the wait would be longer).
	ReasonRate Reason = iota
	// ReasonPaused means a downstream answered 429 Too Many Requests with a
	// Retry-After and the pause it asked for has not ended.
	ReasonPaused
	// ReasonQueueFull means the call could have waited for its tokens, but the
	// bound on waiting calls (MaxQueue) was reached.
	ReasonQueueFull
	// ReasonTooCostly means the call asks for more tokens than the burst holds:
	// it can never be admitted. Such errors are permanent.
	ReasonTooCostly
	// ReasonThrottled means a [Throttle] dropped the call.
	ReasonThrottled
	// ReasonUnavailable means the limiter's store (Redis, say) could not decide
	// and the limiter is configured to fail closed.
	ReasonUnavailable
)

var reasonText = [...]string{
	ReasonRate:        "rate exceeded",
	ReasonPaused:      "paused by the downstream's Retry-After",
	ReasonQueueFull:   "queue full",
	ReasonTooCostly:   "cost exceeds the burst",
	ReasonThrottled:   "throttled client-side",
	ReasonUnavailable: "limiter unavailable",
}

// String returns a short description such as "rate exceeded".
func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// LimitedError is the error of a call that a rate limiter refused. It
// matches [ErrLimited] with errors.Is (and [ErrThrottled] when its Reason
// is ReasonThrottled), tells when to come back through RetryAfter, is a
// local rejection (resilience.IsLocalRejection: the call never reached the
// dependency), and a resilience.Handler answers it with 429 Too Many
// Requests (503 for ReasonUnavailable) and a Retry-After header.
//
// A LimitedError is immutable, and the limiters of this package share one
// between the refusals that would carry the same data, so that a storm of
// refusals allocates nothing: a limiter keeps its last refusal (a [Group]
// one per shard of its keys) and hands it out again while the key, the
// Reason and the moment the call could be admitted are the same — the
// moment, not the wait, which shrinks as time goes by and is computed by
// RetryAfter when it is called. The moment moves only when the bucket
// changes (a call is admitted, a pause begins), so the refusals of a key
// between two admitted calls share one error. A new one is made then, or
// when refusals of different keys of one shard of a Group alternate; the
// refusals of keys longer than 128 bytes are not kept and allocate. Its
// data is read through methods; [NewLimitedError] makes one.
//
// The zero value is a refusal of ReasonRate with no key, no known wait and
// no cause.
type LimitedError struct {
	key    string
	at     time.Time // when the call could be admitted; zero when not known
	cause  error
	reason Reason
}

// NewLimitedError returns the error of a call refused for key ("" for a
// limiter without keys) for reason: a limiter of another package (the
// distributed one of ratelimit/redis) makes its refusals so. retryAfter is
// how long from now until the call could be admitted (0 or less when not
// known); cause is the error behind a refusal of ReasonUnavailable (nil
// otherwise).
func NewLimitedError(key string, reason Reason, retryAfter time.Duration, cause error) *LimitedError {
	e := &LimitedError{key: key, reason: reason, cause: cause}
	if retryAfter > 0 {
		e.at = time.Now().Add(retryAfter)
	}
	return e
}

// Key returns the key of the bucket that refused the call ("" for a single
// [Limiter] or [Throttle] without a key): the caller's key, not the hashed
// form a [Group] holds long keys as.
func (e *LimitedError) Key() string { return e.key }

// Reason returns why the call was refused.
func (e *LimitedError) Reason() Reason { return e.reason }

// Error describes the rejection, e.g. "ratelimit: limited: rate exceeded
// (retry after 250ms)", with the wait as of the call of Error.
func (e *LimitedError) Error() string {
	s := "ratelimit: limited: " + e.reason.String()
	if e.key != "" {
		s += fmt.Sprintf(" for key %q", e.key)
	}
	if wait := e.RetryAfter(); wait > 0 {
		s += " (retry after " + wait.String() + ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is reports whether target is [ErrLimited], or [ErrThrottled] for a
// rejection by a [Throttle].
func (e *LimitedError) Is(target error) bool {
	return target == ErrLimited || target == ErrThrottled && e.reason == ReasonThrottled
}

// Unwrap returns the cause: the error behind a refusal of
// ReasonUnavailable (the store's), nil otherwise.
func (e *LimitedError) Unwrap() error { return e.cause }

// RetryAfter returns how long from now until the call could be admitted,
// as the limiter saw its bucket when it refused the call (tokens that
// other calls take meanwhile are not foreseen; it is not a reservation); 0
// when that moment has passed or is not known. It makes the error part of
// the resilience.RetryAfter protocol, so retry policies wait that long and
// a resilience.Handler sends it as Retry-After. A refusal shared between
// calls answers each to within a microsecond.
func (e *LimitedError) RetryAfter() time.Duration {
	if e.at.IsZero() {
		return 0
	}
	return max(time.Until(e.at), 0)
}

// HTTPStatus returns the status a server answers the rejection with: 429
// Too Many Requests, or 503 Service Unavailable when the limiter itself was
// unavailable.
func (e *LimitedError) HTTPStatus() int {
	if e.reason == ReasonUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// Permanent reports whether retrying cannot help: true when the call asks
// for more tokens than the burst holds.
func (e *LimitedError) Permanent() bool { return e.reason == ReasonTooCostly }

// LocalRejection returns true, whatever the Reason: a limiter of this
// process refused the call before it reached the dependency (even for
// ReasonPaused, where the limiter obeys what the downstream said earlier,
// and ReasonUnavailable, where the limiter's store could not decide). It
// makes the error part of the resilience.IsLocalRejection protocol, so
// retry policies end at once instead of waiting out a local limit.
func (e *LimitedError) LocalRejection() bool { return true }

// admitAt returns the moment a call refused at now could be admitted after
// wait; zero when wait is not known (0).
func admitAt(now time.Time, wait time.Duration) time.Time {
	if wait <= 0 {
		return time.Time{}
	}
	return now.Add(wait)
}

// reuseTolerance is how far apart two moments of admission may be for one
// shared refusal to serve both: the float arithmetic of rate.Limiter moves
// the moment it computes by a few nanoseconds from call to call.
const reuseTolerance = time.Microsecond

// lastRefusal keeps a limiter's last refusal, to hand out again (see
// [LimitedError]). Its zero value keeps none. It is safe for concurrent
// use: the refusals it holds are immutable, and it swaps them atomically.
type lastRefusal struct{ p atomic.Pointer[LimitedError] }

// get returns a refusal of key for reason whose call could be admitted at
// at (zero: not known): the last one if it says the same, else a new one,
// kept for the next refusals unless key is too long to keep.
func (c *lastRefusal) get(key string, reason Reason, at time.Time) *LimitedError {
	if e := c.p.Load(); e != nil && e.reason == reason && e.key == key && near(e.at, at) {
		return e
	}
	if len(key) > keyed.MaxLen {
		return &LimitedError{key: key, reason: reason, at: at}
	}
	e := newKept(key)
	e.reason, e.at = reason, at
	c.p.Store(e)
	return e
}

// newKept returns a LimitedError for key with a copy of the key, made in
// the same allocation: a kept refusal must not keep alive a larger string
// the key was cut from, and a refusal that is not shared must not cost
// more allocations than it did when each had its own.
func newKept(key string) *LimitedError {
	switch {
	case key == "":
		return new(LimitedError)
	case len(key) <= 48: // an IP address, a host, a customer ID
		r := new(struct {
			e LimitedError
			b [48]byte
		})
		r.e.key = unsafe.String(&r.b[0], copy(r.b[:], key))
		return &r.e
	}
	r := new(struct {
		e LimitedError
		b [keyed.MaxLen]byte
	})
	r.e.key = unsafe.String(&r.b[0], copy(r.b[:], key))
	return &r.e
}

// near reports whether a and b are the same moment of admission, within
// reuseTolerance, or both unknown.
func near(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	d := a.Sub(b)
	return -reuseTolerance <= d && d <= reuseTolerance
}

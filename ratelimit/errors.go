package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"time"
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
// matches [ErrLimited] with errors.Is (and [ErrThrottled] when Reason is
// ReasonThrottled), tells when to come back through RetryAfter, is a local
// rejection (resilience.IsLocalRejection: the call never reached the
// dependency), and a resilience.Handler answers it with 429 Too Many
// Requests (503 for ReasonUnavailable) and a Retry-After header.
//
// Each refusal returns a LimitedError of its own, so changing the fields
// of one affects no other call.
type LimitedError struct {
	// Key is the key of the bucket that refused the call ("" for a single
	// [Limiter]).
	Key string
	// Reason says why the call was refused.
	Reason Reason
	// Wait is how long until the call could be admitted; 0 when unknown.
	Wait time.Duration
	// Cause is the error behind the rejection, for ReasonUnavailable (the
	// store's error); nil otherwise.
	Cause error
}

// Error describes the rejection, e.g. "ratelimit: limited: rate exceeded
// (retry after 250ms)".
func (e *LimitedError) Error() string {
	s := "ratelimit: limited: " + e.Reason.String()
	if e.Key != "" {
		s += fmt.Sprintf(" for key %q", e.Key)
	}
	if e.Wait > 0 {
		s += " (retry after " + e.Wait.String() + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is reports whether target is [ErrLimited], or [ErrThrottled] for a
// rejection by a [Throttle].
func (e *LimitedError) Is(target error) bool {
	return target == ErrLimited || target == ErrThrottled && e.Reason == ReasonThrottled
}

// Unwrap returns Cause.
func (e *LimitedError) Unwrap() error { return e.Cause }

// RetryAfter returns Wait: when the call may be tried again. It makes the
// error part of the resilience.RetryAfter protocol, so retry policies wait
// that long and a resilience.Handler sends it as Retry-After.
func (e *LimitedError) RetryAfter() time.Duration { return e.Wait }

// HTTPStatus returns the status a server answers the rejection with: 429
// Too Many Requests, or 503 Service Unavailable when the limiter itself was
// unavailable.
func (e *LimitedError) HTTPStatus() int {
	if e.Reason == ReasonUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// Permanent reports whether retrying cannot help: true when the call asks
// for more tokens than the burst holds.
func (e *LimitedError) Permanent() bool { return e.Reason == ReasonTooCostly }

// LocalRejection returns true, whatever the Reason: a limiter of this
// process refused the call before it reached the dependency (even for
// ReasonPaused, where the limiter obeys what the downstream said earlier,
// and ReasonUnavailable, where the limiter's store could not decide). It
// makes the error part of the resilience.IsLocalRejection protocol, so
// retry policies end at once instead of waiting out a local limit.
func (e *LimitedError) LocalRejection() bool { return true }

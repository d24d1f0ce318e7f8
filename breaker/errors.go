package breaker

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ErrOpen is matched (with errors.Is) by the error a [Breaker] returns when
// it rejects a call: it is open, forced open, or half-open with every probe
// slot taken. The error is an [*OpenError].
var ErrOpen = errors.New("breaker: open")

// OpenError is the error [Breaker.Do] returns when it rejects a call. It
// matches [ErrOpen] with errors.Is, tells when the next probe may go
// through (RetryAfter, which retry policies wait for and
// resilience.Handler sends as a Retry-After header) and makes
// resilience.Handler answer 503 Service Unavailable (HTTPStatus).
//
// An OpenError is immutable and shared, so that rejecting allocates
// nothing: the rejections of one open period all return the same one,
// made when the breaker opened, which holds the moment the period ends;
// the next open period gets a new one. Its data is read through methods,
// and RetryAfter is computed when it is called, so an error kept after its
// open period ended answers 0 rather than the wait of a later period. The
// rejections in the HalfOpen and ForcedOpen states share one per state.
//
// The zero value describes an open breaker with no known wait: State
// returns Open and RetryAfter 0.
type OpenError struct {
	state State     // Open (or the zero value, Closed, which reads as Open), HalfOpen or ForcedOpen
	until int64     // Open: the end of the open period, ns since the breaker's epoch
	end   time.Time // Open: the end of the open period; zero when not known
}

// The rejections in the HalfOpen and ForcedOpen states, whose wait is not
// known: immutable, shared by every breaker.
var (
	halfOpenError   = &OpenError{state: HalfOpen}
	forcedOpenError = &OpenError{state: ForcedOpen}
)

// State returns the state that rejected the call: Open, HalfOpen (every
// probe slot taken, or the health check probes) or ForcedOpen.
func (e *OpenError) State() State {
	if e.state == Closed {
		return Open
	}
	return e.state
}

// reason is the Event.Reason of the rejection: "open", "half_open" or
// "forced_open".
func (e *OpenError) reason() string {
	switch e.state {
	case HalfOpen:
		return "half_open"
	case ForcedOpen:
		return "forced_open"
	}
	return "open"
}

// RetryAfter returns the time from now until the end of the open period
// that rejected the call, when the breaker lets the next probe through; 0
// when that moment has passed or is not known (forced open, half-open with
// its probes in flight, a health check probing instead of calls).
func (e *OpenError) RetryAfter() time.Duration {
	if e.end.IsZero() {
		return 0
	}
	return max(time.Until(e.end), 0)
}

// Error returns a message such as "breaker: open (next probe in 12s)", the
// wait as of the call of Error.
func (e *OpenError) Error() string {
	msg := "breaker: open"
	switch e.state {
	case ForcedOpen:
		msg += " (forced)"
	case HalfOpen:
		msg += " (half-open, probes in flight)"
	default:
		if wait := e.RetryAfter(); wait > 0 {
			msg += " (next probe in " + wait.String() + ")"
		}
	}
	return msg
}

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// LocalRejection returns true: the breaker refused the call before it
// reached the dependency (see resilience.IsLocalRejection). Retry policies
// give up at once on it rather than wait for the next probe, and a breaker
// or an adaptive limit outside this one does not count it.
func (e *OpenError) LocalRejection() bool { return true }

// HTTPStatus returns 503 (Service Unavailable), the answer of
// resilience.Handler for a request an open breaker rejected.
func (e *OpenError) HTTPStatus() int { return http.StatusServiceUnavailable }

// ErrTooManyKeys is matched (with errors.Is) by the error a [Group]
// returns when it refuses a call because it holds MaxKeys breakers, all
// busy, and none for the call's key. The error is a [*TooManyKeysError].
// It does not match [ErrOpen]: no breaker of that key failed.
var ErrTooManyKeys = errors.New("breaker: too many keys")

// TooManyKeysError is the error of a call that a [Group] refused because it
// holds GroupConfig.MaxKeys breakers and none can be dropped: each has a
// call in flight, is open before its open duration has passed, or is forced
// open. It matches [ErrTooManyKeys], is a local rejection
// (resilience.IsLocalRejection) and makes resilience.Handler answer 503
// Service Unavailable. It is immutable, and shared by the calls a group
// refuses, so that refusing allocates nothing.
type TooManyKeysError struct{ maxKeys int }

// Error returns a message such as "breaker: too many keys: 1024 held, none
// idle".
func (e *TooManyKeysError) Error() string {
	return "breaker: too many keys: " + strconv.Itoa(e.maxKeys) + " held, none idle"
}

// Is reports whether target is ErrTooManyKeys.
func (e *TooManyKeysError) Is(target error) bool { return target == ErrTooManyKeys }

// LocalRejection returns true: the group refused the call before it reached
// the dependency (see resilience.IsLocalRejection).
func (e *TooManyKeysError) LocalRejection() bool { return true }

// HTTPStatus returns 503 (Service Unavailable).
func (e *TooManyKeysError) HTTPStatus() int { return http.StatusServiceUnavailable }

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
type OpenError struct {
	// State is the state that rejected the call: Open, HalfOpen or
	// ForcedOpen.
	State State
	// Wait is the time until the breaker lets the next probe through, 0
	// when it is not known (forced open, or half-open with its probes in
	// flight).
	Wait time.Duration
}

// Error returns a message such as "breaker: open (next probe in 12s)".
func (e *OpenError) Error() string {
	msg := "breaker: open"
	switch {
	case e.State == ForcedOpen:
		msg += " (forced)"
	case e.State == HalfOpen:
		msg += " (half-open, probes in flight)"
	case e.Wait > 0:
		msg += " (next probe in " + e.Wait.String() + ")"
	}
	return msg
}

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryAfter returns Wait: the time until the next probe, 0 when unknown.
func (e *OpenError) RetryAfter() time.Duration { return e.Wait }

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

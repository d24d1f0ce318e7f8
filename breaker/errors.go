package breaker

import (
	"errors"
	"net/http"
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

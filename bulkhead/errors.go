package bulkhead

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrFull is the sentinel that every rejection by a [Bulkhead] or a [Group]
// matches with errors.Is. The error returned is a [*FullError].
var ErrFull = errors.New("bulkhead: full")

// errEvicted is returned by acquire on a bulkhead that a Group has evicted;
// the Group looks the key up again, and Bulkhead.Do (on a bulkhead from
// Group.Get) revives it. It never reaches a caller.
var errEvicted = errors.New("bulkhead: evicted")

// FullError is the error of a call that a bulkhead refused: every permit
// was taken and the call could not wait for one, because it may not wait
// (MaxWait is zero) or the queue was full, it waited MaxWait in vain, or (in
// LIFO order) a newer call took its place in a full queue. It matches
// [ErrFull] with errors.Is, is a local rejection (resilience.IsLocalRejection:
// the call never reached the dependency) and a resilience.Handler answers
// it with 503 Service Unavailable.
//
// A FullError is immutable: the one returned to every call that a bulkhead
// with a fixed limit refuses on arrival is shared by them, so that refusing
// allocates nothing.
type FullError struct {
	limit       int
	waited      time.Duration
	tooManyKeys bool
}

// Limit returns the concurrency limit in force when the call was refused;
// 0 when a Group refused it for TooManyKeys.
func (e *FullError) Limit() int { return e.limit }

// Waited returns how long the call waited in the queue before it was
// refused; 0 when it was refused on arrival.
func (e *FullError) Waited() time.Duration { return e.waited }

// TooManyKeys reports whether a Group refused the call because it already
// holds MaxKeys bulkheads, all of them busy.
func (e *FullError) TooManyKeys() bool { return e.tooManyKeys }

// Error describes the rejection.
func (e *FullError) Error() string {
	switch {
	case e.tooManyKeys:
		return "bulkhead: full: too many busy keys"
	case e.waited > 0:
		return fmt.Sprintf("bulkhead: full: no permit after waiting %v (limit %d)", e.waited, e.limit)
	}
	return fmt.Sprintf("bulkhead: full: %d calls in flight", e.limit)
}

// Is reports whether target is [ErrFull].
func (e *FullError) Is(target error) bool { return target == ErrFull }

// LocalRejection returns true: the bulkhead refused the call before it
// reached the dependency (see resilience.IsLocalRejection). Retry policies
// give up at once on it, and a breaker or an adaptive limit outside the
// bulkhead does not count it.
func (e *FullError) LocalRejection() bool { return true }

// HTTPStatus returns 503 (Service Unavailable), the status resilience.Handler
// answers with when a bulkhead refuses a request.
func (e *FullError) HTTPStatus() int { return http.StatusServiceUnavailable }

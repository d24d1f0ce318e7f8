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
// the Group looks the key up again. It never reaches a caller.
var errEvicted = errors.New("bulkhead: evicted")

// FullError is the error of a call that a bulkhead refused: every permit
// was taken and the call could not wait for one, because the queue was full
// or absent, it waited MaxWait in vain, or (in LIFO order) a newer call took
// its place in a full queue. It matches [ErrFull] with errors.Is, and a
// resilience.Handler answers it with 503 Service Unavailable.
type FullError struct {
	// Limit is the concurrency limit in force when the call was refused.
	Limit int
	// Waited is how long the call waited in the queue before it was
	// refused; 0 when it was refused on arrival.
	Waited time.Duration
	// TooManyKeys is true when a Group refused the call because it already
	// holds MaxKeys bulkheads, all of them busy.
	TooManyKeys bool
}

// Error describes the rejection.
func (e *FullError) Error() string {
	switch {
	case e.TooManyKeys:
		return "bulkhead: full: too many busy keys"
	case e.Waited > 0:
		return fmt.Sprintf("bulkhead: full: no permit after waiting %v (limit %d)", e.Waited, e.Limit)
	}
	return fmt.Sprintf("bulkhead: full: %d calls in flight", e.Limit)
}

// Is reports whether target is [ErrFull].
func (e *FullError) Is(target error) bool { return target == ErrFull }

// HTTPStatus returns 503 (Service Unavailable), the status resilience.Handler
// answers with when a bulkhead refuses a request.
func (e *FullError) HTTPStatus() int { return http.StatusServiceUnavailable }

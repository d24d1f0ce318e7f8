package timelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrTimeout is the sentinel that every timeout of a [TimeLimit] matches with
// errors.Is. The error returned is a [*TimeoutError].
var ErrTimeout = errors.New("timelimit: timed out")

// TimeoutError is the error of a call whose time limit expired before op
// returned. It matches [ErrTimeout] and context.DeadlineExceeded with
// errors.Is, unwraps to op's error, reports Timeout() true like other Go
// timeout errors, and a resilience.Handler answers it with 503 Service
// Unavailable. It is not a local rejection (resilience.IsLocalRejection):
// the call reached the dependency, which did not answer in time, so a
// breaker or an adaptive limit around the TimeLimit counts it, whether the
// TimeLimit sits inside it (per attempt) or outside (a limit of the whole call
// that expired while the dependency was being called).
//
// It is also the cause (context.Cause) of the context a TimeLimit gives op
// when it expires; Unwrap returns nil there.
//
// A TimeoutError is immutable: the one returned for the usual timeout (op
// returned context.DeadlineExceeded) and the cause are made once per
// TimeLimit and shared by its calls, so that a timeout allocates no error.
type TimeoutError struct {
	limit time.Duration
	err   error
}

// Limit returns the time limit that expired.
func (e *TimeoutError) Limit() time.Duration { return e.limit }

// Error returns a message such as "timelimit: timed out after 2s: context
// deadline exceeded".
func (e *TimeoutError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("timelimit: timed out after %v", e.limit)
	}
	return fmt.Sprintf("timelimit: timed out after %v: %v", e.limit, e.err)
}

// Is reports whether target is [ErrTimeout] or context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Unwrap returns the error op returned, usually context.DeadlineExceeded;
// nil when op returned nil after the deadline, and for the cause of op's
// context.
func (e *TimeoutError) Unwrap() error { return e.err }

// PolicyDeadline returns true: the deadline that expired was set by a
// policy, not by the caller. It is how a breaker or an adaptive limit
// outside the TimeLimit tells this expiry, which counts as the dependency
// being too slow, from the caller's own deadline, which does not (see
// resilience.CallerDone).
func (e *TimeoutError) PolicyDeadline() bool { return true }

// Timeout returns true, as net.Error and context.DeadlineExceeded do.
func (e *TimeoutError) Timeout() bool { return true }

// HTTPStatus returns 503 (Service Unavailable), the status
// resilience.Handler answers with when a time limit expires before the
// handler responded.
func (e *TimeoutError) HTTPStatus() int { return http.StatusServiceUnavailable }

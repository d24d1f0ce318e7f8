package timelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrTimeout is the sentinel that every timeout of a [Limiter] matches with
// errors.Is. The error returned is a [*TimeoutError].
var ErrTimeout = errors.New("timelimit: timed out")

// TimeoutError is the error of a call whose time limit expired before op
// returned. It matches [ErrTimeout] and context.DeadlineExceeded with
// errors.Is, unwraps to op's error, reports Timeout() true like other Go
// timeout errors, and a resilience.Handler answers it with 503 Service
// Unavailable.
//
// It is also the cause (context.Cause) of the context a Limiter gives op
// when it expires; Err is nil there.
type TimeoutError struct {
	// Limit is the time limit that expired.
	Limit time.Duration
	// Err is the error op returned, usually context.DeadlineExceeded;
	// nil when op returned nil after the deadline.
	Err error
}

// Error returns a message such as "timelimit: timed out after 2s: context
// deadline exceeded".
func (e *TimeoutError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("timelimit: timed out after %v", e.Limit)
	}
	return fmt.Sprintf("timelimit: timed out after %v: %v", e.Limit, e.Err)
}

// Is reports whether target is [ErrTimeout] or context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Unwrap returns op's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout returns true, as net.Error and context.DeadlineExceeded do.
func (e *TimeoutError) Timeout() bool { return true }

// HTTPStatus returns 503 (Service Unavailable), the status
// resilience.Handler answers with when a time limit expires before the
// handler responded.
func (e *TimeoutError) HTTPStatus() int { return http.StatusServiceUnavailable }

package retry

import (
	"errors"
	"strconv"

	"github.com/cenkalti/backoff/v4"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/errs"
)

// ErrExhausted is matched (with errors.Is) by the error [Retry.Do] returns
// when it gives up on an operation that kept failing. The error is an
// [*ExhaustedError], which also wraps the last failure.
var ErrExhausted = errors.New("retry: exhausted")

// Reason tells why a [Retry] gave up.
type Reason uint8

const (
	// ReasonMaxRetries: Config.MaxRetries retries were made.
	ReasonMaxRetries Reason = iota + 1
	// ReasonBackoffStop: the backoff returned backoff.Stop.
	ReasonBackoffStop
	// ReasonDeadline: the next attempt could not start before the
	// deadline of the caller's context.
	ReasonDeadline
	// ReasonMaxElapsed: the next attempt could not start within
	// Config.MaxElapsed.
	ReasonMaxElapsed
	// ReasonRetryAfter: the error asked for a wait (RetryAfter) longer
	// than Config.MaxDelay.
	ReasonRetryAfter
	// ReasonBudget: the retry budget refused the retry.
	ReasonBudget
	// ReasonRejected: the error is a local rejection
	// (resilience.IsLocalRejection: an open breaker, a full bulkhead, a
	// local rate limit), which ends the retry at once unless
	// Config.WaitOnRejection asks to wait for its RetryAfter. The
	// ExhaustedError unwraps to it, so its sentinel (breaker.ErrOpen, …)
	// still matches with errors.Is.
	ReasonRejected // the last: Metrics.GaveUp has ReasonRejected+1 counters
)

// String returns a short description such as "max retries" or
// "rejected locally".
func (r Reason) String() string {
	switch r {
	case ReasonMaxRetries:
		return "max retries"
	case ReasonBackoffStop:
		return "backoff stopped"
	case ReasonDeadline:
		return "deadline"
	case ReasonMaxElapsed:
		return "max elapsed"
	case ReasonRetryAfter:
		return "retry-after too long"
	case ReasonBudget:
		return "budget exhausted"
	case ReasonRejected:
		return "rejected locally"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// ExhaustedError is the error [Retry.Do] returns when it gives up: it
// matches [ErrExhausted] with errors.Is, and unwraps to the error of the
// last attempt, so errors.Is and errors.As see that error too (a
// resilience.Transport finds the last HTTP response through it).
type ExhaustedError struct {
	// Attempts is how many times the operation was called.
	Attempts int
	// Reason is why no further attempt was made.
	Reason Reason
	// Err is the error of the last attempt.
	Err error
}

// Error returns a message such as
// "retry: exhausted after 4 attempts (max retries): connection refused".
func (e *ExhaustedError) Error() string {
	msg := "retry: exhausted after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		msg += "s"
	}
	msg += " (" + e.Reason.String() + ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrExhausted.
func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }

// Unwrap returns the error of the last attempt.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// permanent reports whether err must not be retried: resilience.IsPermanent,
// or a *backoff.PermanentError in its chain. Neither check allocates.
func permanent(err error) bool {
	if resilience.IsPermanent(err) {
		return true
	}
	_, ok := errs.As[*backoff.PermanentError](err)
	return ok
}

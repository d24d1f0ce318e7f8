package retry

import (
	"errors"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resiliencekit/resilience"
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
)

// String returns a short description such as "max retries".
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

// The error protocols of the root package, found with errors.As there,
// which allocates. These walks find the same methods without allocating;
// an error in the chain with an As method is left to errors.As (through
// the root functions), since only it knows what that method answers.

type permanenter interface{ Permanent() bool }

type retryAfterer interface{ RetryAfter() time.Duration }

type aser interface{ As(any) bool }

// find looks for the first error of type T in the tree of err, in the order
// errors.As uses. unsure is true when the walk met an As method first.
func find[T any](err error) (v T, ok, unsure bool) {
	for err != nil {
		if v, ok := err.(T); ok {
			return v, true, false
		}
		if _, ok := err.(aser); ok {
			return v, false, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if v, ok, unsure := find[T](e); ok || unsure {
					return v, ok, unsure
				}
			}
			return v, false, false
		default:
			return v, false, false
		}
	}
	return v, false, false
}

// permanent reports whether err must not be retried: resilience.IsPermanent,
// or a *backoff.PermanentError in its chain.
func permanent(err error) bool {
	p, ok, unsure := find[permanenter](err)
	if unsure {
		if resilience.IsPermanent(err) {
			return true
		}
	} else if ok && p.Permanent() {
		return true
	}
	_, ok, unsure = find[*backoff.PermanentError](err)
	if unsure {
		var pe *backoff.PermanentError
		return errors.As(err, &pe)
	}
	return ok
}

// retryAfter is resilience.RetryAfter.
func retryAfter(err error) (time.Duration, bool) {
	ra, ok, unsure := find[retryAfterer](err)
	if unsure {
		return resilience.RetryAfter(err)
	}
	if ok {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}

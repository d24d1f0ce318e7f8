package resilience

import (
	"time"

	"github.com/resiliencekit/resilience/internal/errs"
)

// Permanent marks err as permanent: retrying the call cannot help (a
// validation error, a 404, a non-idempotent request that may already have
// had its effect). Retry policies return such an error at once without
// another attempt; other policies treat it as any failure. The returned
// error wraps err, so errors.Is and errors.As still see it. Permanent(nil)
// returns nil.
//
// Any error type can join the protocol without importing this package by
// having a method
//
//	Permanent() bool
//
// that returns true; [IsPermanent] finds it anywhere in the chain of wrapped
// errors.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// IsPermanent reports whether err, or an error it wraps, has a method
// Permanent() bool, and the first such method found returns true. Errors
// made by [Permanent] have one.
func IsPermanent(err error) bool {
	p, ok := errs.As[interface{ Permanent() bool }](err)
	return ok && p.Permanent()
}

// RetryAfter reports when the caller may try again, for errors that know:
// it returns d, true when err, or any error it wraps, has a method
//
//	RetryAfter() time.Duration
//
// that returns a positive duration. Rate-limit rejections, open breakers and
// HTTP 429 and 503 answers with a Retry-After header (see [StatusError])
// carry one. Retry policies wait at least that long before the next attempt
// (or give up when it is too long), and [Handler] turns it into a
// Retry-After header. A zero or negative value means "no hint".
func RetryAfter(err error) (time.Duration, bool) {
	if ra, ok := errs.As[interface{ RetryAfter() time.Duration }](err); ok {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}

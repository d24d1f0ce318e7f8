package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is what a loader returns, or wraps, when the key does not exist
// at the source. It is the one loader error the cache keeps: with
// [Config.NegativeTTL] set, later Gets of the key return the same error
// without calling the loader until NegativeTTL has passed. A not-found
// result also drops any value the cache held for the key, since the source
// has said that it no longer exists.
var ErrNotFound = errors.New("cache: not found")

// ErrClosed is returned by a Get that needs a load after [Cache.Close]: a
// closed cache still answers from the values it holds but starts no load.
var ErrClosed = errors.New("cache: closed")

// ErrLoadTimeout is matched (with errors.Is) by the error of a Get whose
// load did not finish within [Config.LoadTimeout]: the loader returned its
// context's error at the deadline, or ignored its context and had not
// returned, in which case the cache gave up on it (see [Config.LoadTimeout]).
// Those errors match context.DeadlineExceeded as well, and have a method
// Timeout() bool that returns true. Under StaleIfError the cache serves the
// stale value instead, with the error in Entry.Err.
var ErrLoadTimeout = errors.New("cache: load timed out")

// loadTimeoutError is an error that matches ErrLoadTimeout and
// context.DeadlineExceeded. The cache keeps two of them, made once: the
// error of a load it gave up on and that of a Get refused while the key's
// loads are stuck; a loader's own error at the deadline is wrapped in a
// new one. Its fields are unexported and never change.
type loadTimeoutError struct {
	after time.Duration // the LoadTimeout
	stuck bool          // no load was started: the key's loads are stuck
	cause error         // the loader's error at the deadline, if it returned
}

func (e *loadTimeoutError) Error() string {
	msg := "cache: load timed out after " + e.after.String()
	switch {
	case e.stuck:
		msg = "cache: loads of the key are stuck past LoadTimeout " + e.after.String()
	case e.cause != nil:
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is ErrLoadTimeout or context.DeadlineExceeded.
func (e *loadTimeoutError) Is(target error) bool {
	return target == ErrLoadTimeout || target == context.DeadlineExceeded
}

func (e *loadTimeoutError) Unwrap() error { return e.cause }

// Timeout reports true, as the net package's timeout errors do.
func (e *loadTimeoutError) Timeout() bool { return true }

// ErrPanicked is matched (with errors.Is) by the [*PanicError] that the
// callers waiting for a load get when the loader panicked.
var ErrPanicked = errors.New("cache: loader panicked")

// ErrBadSnapshot is matched (with errors.Is) by every error of
// [Cache.Load] about its input: wrong format, unsupported version, wrong key
// or value type, truncated or corrupted data. The error's text says which.
var ErrBadSnapshot = errors.New("cache: bad snapshot")

// A PanicError reports that the loader panicked. The callers waiting for
// that load get it as their error (so the key is not left waiting forever
// and the next Get loads again), each a copy of its own, and
// [Config.OnPanic] receives it. It
// matches [ErrPanicked] with errors.Is, and when the panic value is an error,
// Unwrap returns it.
type PanicError struct {
	Key   any    // the key being loaded
	Value any    // the value passed to panic
	Stack []byte // the loader's stack at the panic
}

// Error returns a message such as
// "cache: loader panicked loading user-7: boom".
func (e *PanicError) Error() string {
	return fmt.Sprintf("cache: loader panicked loading %v: %v", e.Key, e.Value)
}

// clone returns a copy of e for one caller, so that no caller sees
// another's changes to it.
func (e *PanicError) clone() *PanicError {
	cp := *e
	cp.Stack = bytes.Clone(e.Stack)
	return &cp
}

// Is reports whether target is ErrPanicked.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns the panic value when it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

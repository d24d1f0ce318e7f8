package cache

import (
	"errors"
	"fmt"
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

// ErrPanicked is matched (with errors.Is) by the [*PanicError] that the
// callers waiting for a load get when the loader panicked.
var ErrPanicked = errors.New("cache: loader panicked")

// ErrBadSnapshot is matched (with errors.Is) by every error of
// [Cache.Load] about its input: wrong format, unsupported version, wrong key
// or value type, truncated or corrupted data. The error's text says which.
var ErrBadSnapshot = errors.New("cache: bad snapshot")

// A PanicError reports that the loader panicked. The callers waiting for
// that load get it as their error (so the key is not left waiting forever
// and the next Get loads again), and [Config.OnPanic] receives it. It
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

// Is reports whether target is ErrPanicked.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns the panic value when it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

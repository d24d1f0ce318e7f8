// Package errs finds errors in a tree of wrapped errors the way errors.As
// does, without the allocation errors.As makes for its target. The error
// protocols of the root package run on every failed attempt of every
// policy, so their cost matters.
package errs

import "errors"

// As returns the first error in err's tree that has type T (an interface
// or a concrete type), in the order errors.As visits them: err itself, then
// a pre-order, depth-first walk of Unwrap() error and Unwrap() []error.
// When the walk meets an error with an As(any) bool method before a match,
// it defers to errors.As, since only that method knows its answer.
func As[T any](err error) (T, bool) {
	v, ok, unsure := find[T](err)
	if unsure {
		return slowAs[T](err)
	}
	return v, ok
}

type aser interface{ As(any) bool }

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

// slowAs is errors.As; apart so that its target's escape to the heap does not
// make the fast path allocate too.
func slowAs[T any](err error) (T, bool) {
	var v T
	ok := errors.As(err, &v)
	return v, ok
}

package fallback

import "errors"

// ErrNoResult is matched (with errors.Is) by the error Do returns when it
// had a substitute of type T but the context held no call to hand it to:
// the Fallback ran under plain Policy.Do, or under resilience.Do with
// another type than T, or (for *http.Response) outside resilience.Transport.
// That is a mistake in the program, not a condition of the dependency, so
// the error is also permanent (resilience.IsPermanent): a retry cannot
// mend it. It wraps op's error too, which errors.Is and errors.As find; its
// message names T.
//
// A Fallback never reports success without a value to answer with: that
// would hand the caller of resilience.Do a zero value as if op had made it.
var ErrNoResult = errors.New("fallback: no result to answer into")

// noResultError is the error of KindNoResult.
type noResultError struct {
	typeName string
	err      error // op's
}

func (e *noResultError) Error() string {
	holder := "resilience.Do[" + e.typeName + "]"
	if e.typeName == "*http.Response" {
		holder += " or resilience.Transport"
	}
	return ErrNoResult.Error() + ": the context holds no call of " + holder + "; op failed: " + e.err.Error()
}

func (e *noResultError) Unwrap() []error { return []error{ErrNoResult, e.err} }
func (e *noResultError) Permanent() bool { return true }

// SubstituteError is returned by Do when the substitute could not be had:
// sub (alt, respond) failed. It wraps both errors, sub's first: errors.Is
// and errors.As find either. A new one is made for each such call; it is
// the caller's.
type SubstituteError struct {
	// Err is the error of sub, alt or respond.
	Err error
	// Cause is op's error: the failure the fallback was answering.
	Cause error
}

func (e *SubstituteError) Error() string {
	return "fallback: substitute failed: " + e.Err.Error() + "; op failed: " + e.Cause.Error()
}

// Unwrap returns the error of the substitute and op's.
func (e *SubstituteError) Unwrap() []error { return []error{e.Err, e.Cause} }

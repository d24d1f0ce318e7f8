package resilience

import (
	"context"
	"net/http"
	"sync/atomic"
)

// callKey finds the caller of the policies: [Do] or [Transport], which hold
// the result of the call.
type callKey struct{}

// caller is what Do and Transport are to the policies they run.
type caller interface {
	// raced tells the caller that a race runs under it, so that its op
	// registers results with Keep rather than storing them.
	raced()
	// repeatable reports whether op may be called more than once.
	repeatable() bool
}

// slot is the result of a call of type T, as [Do] and [Transport] hold it.
type slot[T any] interface {
	caller
	result() (T, bool)
	substitute(v T)
}

// Do runs op under p and returns op's value. It is the generic edge of the
// library: policies stay non-generic, and Do carries any result type through
// them. The value returned is the one from the last call of op (the winning
// one, under a [ConcurrentPolicy]); when the error is not nil the value is
// whatever that call returned with it (usually the zero value). A policy may
// answer with a value of its own, a fallback's, with [Substitute]. Carrying
// the value costs two small allocations per call (the call's state, which is
// also the context the policies get, and op bound to it).
func Do[T any](ctx context.Context, p Policy, op func(context.Context) (T, error)) (T, error) {
	c := &doCall[T]{Context: ctx, op: op}
	err := p.Do(c, c.run)
	v, _ := c.result()
	return v, err
}

// doCall is one call of Do: the context the policies get, which lets them
// find the result, and the result.
type doCall[T any] struct {
	context.Context
	op   func(context.Context) (T, error)
	out  T
	set  bool // out holds a value of op's or a substitute
	race atomic.Bool
}

func (c *doCall[T]) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *doCall[T]) run(ctx context.Context) error {
	v, err := c.op(ctx)
	if c.race.Load() {
		Keep(ctx, func() { c.substitute(v) }, nil)
		return err
	}
	c.substitute(v)
	return err
}

func (c *doCall[T]) raced()           { c.race.Store(true) }
func (c *doCall[T]) repeatable() bool { return true }
func (c *doCall[T]) result() (T, bool) {
	return c.out, c.set
}
func (c *doCall[T]) substitute(v T) { c.out, c.set = v, true }

// Substitute makes v the value that the call in ctx returns, in place of
// what op returned: it is how a policy such as a fallback answers with a
// value of its own. The call is that of [Do] with type T, or of
// [Transport] with T *http.Response (the policy then returns nil and the
// response goes to the caller of RoundTrip, who closes its body). It reports
// false, and does nothing, when ctx holds no such call: a call of plain
// Policy.Do, or of Do with another type. Under a [ConcurrentPolicy], the
// substitute is kept only if its attempt wins.
//
// ctx must be the context the policy received.
func Substitute[T any](ctx context.Context, v T) bool {
	s, ok := ctx.Value(callKey{}).(slot[T])
	if !ok {
		return false
	}
	var discard func()
	if resp, ok := any(v).(*http.Response); ok && resp != nil && resp.Body != nil {
		discard = func() { resp.Body.Close() } // a losing attempt's substitute
	}
	Keep(ctx, func() { s.substitute(v) }, discard)
	return true
}

// Result returns the value that the call in ctx holds now: the one its
// latest call of op returned, or a substitute. A policy reads it after op
// returned nil to remember a good value (a fallback that answers with the
// last good one). ok is false when ctx holds no call of [Do] with type T or
// of [Transport] (T *http.Response), when no value was produced yet, and
// inside an attempt of a [ConcurrentPolicy] of that call: the value is not
// decided there until the race is. Do not keep a *http.Response: its body
// belongs to the caller.
func Result[T any](ctx context.Context) (v T, ok bool) {
	s, ok := ctx.Value(callKey{}).(slot[T])
	if !ok {
		return v, false
	}
	if a, ok := ctx.Value(raceKey{}).(*attemptCtx); ok && a.race.c == caller(s) {
		return v, false
	}
	return s.result()
}

// Repeatable reports whether the call in ctx may be sent more than once:
// false when [Transport] sends a request that is not idempotent (and has no
// Idempotency-Key) or whose body cannot be sent again, true otherwise. A
// policy that would call op more than once for reasons other than a failure
// — a hedge — calls op once when it is false. Retry policies need not ask:
// the failures of such a request are marked [Permanent].
func Repeatable(ctx context.Context) bool {
	c, ok := ctx.Value(callKey{}).(caller)
	return !ok || c.repeatable()
}

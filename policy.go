package resilience

import (
	"context"
	"fmt"
	"reflect"
	"sync"
)

// Policy is the one interface every resilience policy satisfies. Retry,
// breaker, bulkhead, time limit, rate limiter and fault injector all
// implement it, so any of them can wrap any call and they compose with
// [Chain].
//
// Every implementation keeps this contract, and its tests check it:
//
//  1. Do does not return before the last call of op has returned, and it
//     calls op sequentially, never concurrently — unless it is a
//     [ConcurrentPolicy] (a hedge), which says so and may call op from
//     several goroutines at once. Every other policy may rely on op being
//     called by one goroutine at a time only when nothing concurrent sits
//     between it and the caller's op; [Chain] sees to that.
//  2. Do passes op a context derived from ctx; when ctx is cancelled Do
//     stops waiting at once (it returns without starting another attempt).
//  3. Do returns op's error, possibly wrapped with %w, or an error of its own
//     (a rejection such as an open breaker or a full bulkhead) — or nil for
//     a failure it answers with a substitute of its own (a fallback, see
//     [Substitute]), the one policy whose point is not to return it.
//  4. A panic in op is recorded as a failure, the policy's state is restored
//     (permits released, counters updated), and the panic propagates to the
//     caller of Do unchanged.
//  5. A policy that derives a context of its own for each call of op (a
//     per-attempt time limit) hands that context's cancel to [DeferRelease]
//     after op returned, and calls it itself only when DeferRelease returns
//     false, so that what the attempt returned (the body of an HTTP
//     response under [Transport]) stays usable after Do returned.
//
// Implementations are safe for concurrent use by many goroutines. Package
// resiliencetest checks a policy against these rules; run it in the tests
// of a policy of your own.
type Policy interface {
	Do(ctx context.Context, op func(context.Context) error) error
}

// PolicyFunc adapts an ordinary function to a [Policy]. It is the quickest
// way to write a small policy of your own, for example one that logs every
// call. The function must keep the contract documented on Policy.
type PolicyFunc func(ctx context.Context, op func(context.Context) error) error

// Do calls f(ctx, op).
func (f PolicyFunc) Do(ctx context.Context, op func(context.Context) error) error {
	return f(ctx, op)
}

// Chain composes policies into one. Chain(a, b, c).Do(ctx, op) behaves as
//
//	a.Do(ctx, func(ctx) error {
//		return b.Do(ctx, func(ctx) error {
//			return c.Do(ctx, op)
//		})
//	})
//
// so the first policy is the outermost. The usual order, from the outside
// in, is: time limit for the whole call, retry, circuit breaker, bulkhead,
// time limit per attempt. Nil policies are skipped (so an optional policy
// can be left out with a nil interface) and nested chains are flattened;
// a typed nil — a nil *breaker.Breaker in a Policy — panics, since it
// would fail at the first call. Chain with no policies runs op directly; Chain with one policy
// returns that policy.
//
// A chain of any length makes no allocation per call: the bookkeeping that
// threads op through the layers is pooled inside the chain. This relies on
// contract rule 1 of [Policy] (op is called sequentially and never after Do
// returned); a policy that breaks it makes the chain panic with a message
// naming the violation instead of running the wrong operation. A
// [ConcurrentPolicy] in the chain splits it: each of its concurrent calls of
// op runs the policies inside it with bookkeeping of its own, and the chain
// is then itself a ConcurrentPolicy. A chain without one pays nothing for
// that.
func Chain(ps ...Policy) Policy {
	flat := make([]Policy, 0, len(ps))
	for _, p := range ps {
		switch p := p.(type) {
		case nil:
		case *chain:
			flat = append(flat, p.ps...)
		case noop:
		default:
			if isNil(p) {
				panic(fmt.Sprintf("resilience: Chain with a nil %T (a typed nil fails at its first call)", p))
			}
			flat = append(flat, p)
		}
	}
	switch len(flat) {
	case 0:
		return noop{}
	case 1:
		return flat[0]
	}
	c := &chain{ps: flat}
	for i, p := range flat {
		if concurrent(p) {
			// The policies inside a concurrent one run as a chain of their
			// own, one frame per concurrent call of op.
			c.conc = true
			c.ps, c.inner = flat[:i+1], Chain(flat[i+1:]...)
			break
		}
	}
	c.frames.New = func() any {
		f := &frame{c: c}
		f.next = f.call
		if c.inner != nil {
			f.split = f.callInner
		}
		return f
	}
	return c
}

// noop is the empty chain: it runs op once with the caller's context.
type noop struct{}

func (noop) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

// chain runs its policies from the outermost to the innermost.
type chain struct {
	ps     []Policy
	inner  Policy // the policies inside the last of ps, a concurrent one
	conc   bool
	frames sync.Pool // *frame
}

// CallsOpConcurrently reports whether a policy of the chain is a
// [ConcurrentPolicy].
func (c *chain) CallsOpConcurrently() bool { return c.conc }

// frame carries one call of a chain through its layers. depth is the index of
// the policy that the next call of next enters; because each policy calls its
// op sequentially and only while its own Do is running, one counter, saved
// and restored around each layer, is enough to know where a call is.
type frame struct {
	c      *chain
	op     func(context.Context) error
	next   func(context.Context) error // f.call, made once per pooled frame
	split  func(context.Context) error // f.callInner, when the chain has inner
	depth  int
	active bool
}

func (c *chain) Do(ctx context.Context, op func(context.Context) error) error {
	f := c.frames.Get().(*frame)
	f.op, f.depth, f.active = op, 0, true
	defer c.release(f)
	return f.call(ctx)
}

func (c *chain) release(f *frame) {
	f.op, f.active = nil, false
	c.frames.Put(f)
}

// call enters the policy at f.depth, or runs the caller's op below the last
// policy.
func (f *frame) call(ctx context.Context) error {
	if !f.active {
		panic("resilience: a policy in a Chain called its op after its Do returned (see the Policy contract)")
	}
	d := f.depth
	if d == len(f.c.ps) {
		return f.op(ctx)
	}
	f.depth = d + 1
	defer f.restore(d)
	if f.split != nil && d == len(f.c.ps)-1 {
		return f.c.ps[d].Do(ctx, f.split)
	}
	return f.c.ps[d].Do(ctx, f.next)
}

// callInner is the op of the concurrent policy of a split chain: it may run
// on several goroutines at once, each through a frame of the inner chain,
// and leaves this frame's depth alone.
func (f *frame) callInner(ctx context.Context) error {
	if !f.active {
		panic("resilience: a policy in a Chain called its op after its Do returned (see the Policy contract)")
	}
	return f.c.inner.Do(ctx, f.op)
}

func (f *frame) restore(d int) { f.depth = d }

// isNil reports whether v is nil or a typed nil (a nil pointer, func, map,
// slice, channel or interface inside an interface), which would fail at
// the first call rather than at construction.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

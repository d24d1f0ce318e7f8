package resilience

import (
	"context"
	"sync"
)

// ConcurrentPolicy is a [Policy] that may call op from several goroutines at
// once: a hedge, which starts another attempt while the first is still
// running. Such a policy says so with CallsOpConcurrently, which returns
// true, so that [Chain], [Do] and [Transport] give each of its concurrent
// calls of op a path of its own.
//
// A concurrent policy keeps every rule of the Policy contract but the first
// half of rule 1: it may call op concurrently, and still does not return
// before the last call of op has returned. It runs one [Race] per call of
// Do, so that what the winning call of op produced (the value of [Do], the
// response of [Transport]) is what the caller gets, and what the others
// produced is discarded.
type ConcurrentPolicy interface {
	Policy
	CallsOpConcurrently() bool
}

// concurrent reports whether p says it calls op concurrently.
func concurrent(p Policy) bool {
	c, ok := p.(ConcurrentPolicy)
	return ok && c.CallsOpConcurrently()
}

// A Race is one call of a [ConcurrentPolicy]: several calls of op (its
// attempts) that run at once, of which at most one wins. A concurrent
// policy's Do makes one with [NewRace], passes each attempt the context that
// [Race.Attempt] returns, calls [Race.Win] with the context of the attempt
// whose outcome it returns, and calls [Race.End] once every attempt has
// returned. What an attempt produced — registered with [Keep] by [Do] and
// [Transport] — is kept if the attempt wins and discarded if it loses.
//
// A Race is not needed, and costs nothing, for a policy that calls op
// sequentially.
type Race struct {
	c      caller // the call whose results the race decides, or nil
	parent *attemptCtx

	mu     sync.Mutex
	all    []*attemptCtx
	buf    [3]*attemptCtx // all's first attempts, without an allocation of their own
	winner *attemptCtx
	ended  bool
}

// NewRace starts the race of one call of a concurrent policy. ctx is the
// context the policy's Do received.
func NewRace(ctx context.Context) *Race {
	r := &Race{}
	r.all = r.buf[:0]
	if c, ok := ctx.Value(callKey{}).(caller); ok {
		r.c = c
		c.raced()
	}
	if a, ok := ctx.Value(raceKey{}).(*attemptCtx); ok && a.race.c == r.c {
		r.parent = a // a race inside an attempt of another race of the same call
	}
	return r
}

// Attempt returns ctx marked as the context of a new attempt of the race.
// ctx is the context the policy derived for the attempt (with a cancel of
// its own, so that a losing attempt can be stopped); pass the result to op.
func (r *Race) Attempt(ctx context.Context) context.Context {
	a := &attemptCtx{Context: ctx, race: r}
	a.held = a.hbuf[:0]
	r.mu.Lock()
	r.all = append(r.all, a)
	r.mu.Unlock()
	return a
}

// Win makes the attempt whose context is ctx (as returned by Attempt) the
// winner, unless another attempt won already; it reports whether this one
// is the winner. What the winner produced is kept at once (or, when this
// race runs inside an attempt of another race of the same call, handed to
// that attempt, which may still lose).
func (r *Race) Win(ctx context.Context) bool {
	a, ok := ctx.(*attemptCtx)
	if !ok || a.race != r {
		panic("resilience: Race.Win with a context that is not an attempt of this race")
	}
	r.mu.Lock()
	if r.winner != nil || r.ended {
		won := r.winner == a
		r.mu.Unlock()
		return won
	}
	r.winner = a
	kept := a.take()
	r.mu.Unlock()
	r.keep(kept)
	return true
}

// End closes the race once every attempt has returned: what the losers
// produced (and everything, when no attempt won) is discarded. A result
// registered with Keep after End is discarded at once.
func (r *Race) End() {
	r.mu.Lock()
	r.ended = true
	var lost []kept
	for _, a := range r.all {
		if a != r.winner {
			lost = append(lost, a.take()...)
		}
	}
	r.all, r.buf = nil, [3]*attemptCtx{}
	r.mu.Unlock()
	for _, k := range lost {
		if k.discard != nil {
			k.discard()
		}
	}
}

func (r *Race) keep(ks []kept) {
	if r.parent != nil {
		for _, k := range ks {
			r.parent.add(k)
		}
		return
	}
	for _, k := range ks {
		if k.keep != nil {
			k.keep()
		}
	}
}

// Keep registers what the call of op whose context is ctx produced: keep
// runs if that call's attempt wins its race, discard if it loses (a
// response to close, say). Outside a race — with no concurrent policy
// between the caller and op — keep runs at once. Either function may be
// nil. [Do] and [Transport] use Keep for their results; a helper of your
// own that hands a result out of op through a variable needs it only under
// a concurrent policy.
func Keep(ctx context.Context, keep, discard func()) {
	a, ok := ctx.Value(raceKey{}).(*attemptCtx)
	if !ok {
		if keep != nil {
			keep()
		}
		return
	}
	a.add(kept{keep, discard})
}

type raceKey struct{}

type kept struct{ keep, discard func() }

// attemptCtx is the context of one attempt of a race.
type attemptCtx struct {
	context.Context
	race *Race

	mu   sync.Mutex
	held []kept
	hbuf [2]kept // held's first results, without an allocation of their own
	done bool    // taken: later results are settled at once
	won  bool
}

func (a *attemptCtx) Value(key any) any {
	if key == (raceKey{}) {
		return a
	}
	return a.Context.Value(key)
}

func (a *attemptCtx) add(k kept) {
	a.mu.Lock()
	if !a.done {
		a.held = append(a.held, k)
		a.mu.Unlock()
		return
	}
	won := a.won
	a.mu.Unlock()
	// The race was settled for this attempt before this result came in.
	if won {
		a.race.keep([]kept{k})
	} else if k.discard != nil {
		k.discard()
	}
}

// take returns what the attempt holds and settles it; called with the
// race's lock held.
func (a *attemptCtx) take() []kept {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = true
	a.won = a.race.winner == a
	ks := a.held
	a.held = nil
	return ks // may share hbuf: the attempt holds nothing more from now on
}

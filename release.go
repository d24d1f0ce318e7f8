package resilience

import (
	"context"
	"sync"
)

// DeferRelease hands release to the caller further out instead of running
// it now, when that caller asked for it; it reports whether it did.
//
// It solves one problem: a policy that gives op a context of its own (a
// per-attempt time limit) must cancel that context when op returns, but a
// result can outlive op. The body of an HTTP response is read after
// RoundTrip returned, and reading it fails once the attempt's context is
// cancelled. [Transport] therefore asks for deferral: a policy calls
//
//	if !resilience.DeferRelease(ctx, cancel) {
//		cancel()
//	}
//
// after op returned, and Transport runs the deferred functions once the
// response of that attempt is no longer in use (its body closed, or the
// response discarded before the next attempt). The time limit then covers
// reading the body too, as http.Client.Timeout does. With no such caller,
// DeferRelease returns false and the policy releases at once.
//
// ctx must be the context the policy received (not the one it derived).
func DeferRelease(ctx context.Context, release func()) bool {
	rt, ok := ctx.Value(callKey{}).(*roundTrip)
	if !ok {
		return false
	}
	rt.rel.add(release)
	return true
}

// releaser collects deferred releases for one Transport round trip.
type releaser struct {
	mu  sync.Mutex
	fns []func()
}

func (rs *releaser) add(f func()) {
	rs.mu.Lock()
	rs.fns = append(rs.fns, f)
	rs.mu.Unlock()
}

func (rs *releaser) pending() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.fns) > 0
}

// run calls and forgets every release collected so far.
func (rs *releaser) run() {
	rs.mu.Lock()
	fns := rs.fns
	rs.fns = nil
	rs.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

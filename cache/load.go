package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// maxStuckLoads is how many loads of one key may run past their
// LoadTimeout (their loader ignores its context) before the cache starts no
// other load of the key until one of them returns.
const maxStuckLoads = 2

// call is one load of one key, shared by every Get that waits for it.
type call[V any] struct {
	done     chan struct{}
	ctxDone  <-chan struct{} // the load's context's: closed at its deadline, or when cancelled
	cancel   context.CancelFunc
	deadline int64     // the load's LoadTimeout, Unix nanoseconds
	trigger  *entry[V] // the entry whose refresh this is, if any
	reported atomic.Int64
	parent   detached // the parent of the load's context

	// Guarded by the shard's mutex.
	background bool // a refresh, or a load a caller left to fill the cache: none may cancel it
	waiters    int
	noStore    bool // Set, Delete or Purge came after the load started
	abandoned  bool // cancelled because its last waiter left
	closing    bool // cancelled by Close
	expired    bool // given up at its LoadTimeout: its result will be dropped
	finished   bool

	// Written before done is closed.
	val      V
	err      error
	loadedAt int64
}

// loadKey is the context key under which a load finds its call.
type loadKey struct{}

// detached is the parent of a load's context: it has the values of the
// context of the Get that started the load, and the load's call under
// loadKey, but not that context's deadline or cancellation. It is
// context.WithoutCancel and context.WithValue in one, without an
// allocation of its own (it lives in the call). Its Done is nil, so the
// contexts made from it start no goroutine.
type detached struct {
	ctx context.Context
	r   reporter
}

func (*detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*detached) Done() <-chan struct{}       { return nil }
func (*detached) Err() error                  { return nil }

func (d *detached) Value(key any) any {
	if key == (loadKey{}) {
		return d.r
	}
	return d.ctx.Value(key)
}

type reporter interface{ report(unixNano int64) }

func (cl *call[V]) report(t int64) { cl.reported.Store(t) }

// ReportLoadedAt tells the cache that the value the running loader is about
// to return was loaded from the source at t, earlier than now: for example a
// copy taken from a cache level shared with other processes (see [Tiered]).
// The value's freshness windows then count from t, so copying it from cache
// to cache does not make it younger. ctx must be the context the cache
// passed to the loader (or one derived from it); elsewhere ReportLoadedAt
// does nothing. A t in the future counts as now.
func ReportLoadedAt(ctx context.Context, t time.Time) {
	if r, ok := ctx.Value(loadKey{}).(reporter); ok && !t.IsZero() {
		r.report(t.UnixNano())
	}
}

// waited is the outcome of wait.
type waited[V any] struct {
	cl    *call[V]  // the load that finished, or that the cache gave up on
	fresh *entry[V] // a fresh entry a load stored meanwhile
	err   error     // ErrClosed, a timeout error, or ctx's error (ctxDone)
	// ctxDone: the caller's ctx ended first; slow: the caller's patience
	// ran out first.
	ctxDone, slow bool
}

// wait joins the load of key in flight, or starts one, and waits for it:
// until it finishes, it passes its LoadTimeout (the cache then gives up on
// it), ctx ends, or slow (the caller's patience, nil for none) fires. It
// may also find a fresh entry that a load stored between the caller's look
// at the store and its taking the shard's lock, or fail with ErrClosed, or
// with c.errStuck when maxStuckLoads loads of the key are stuck.
//
// The rare paths are functions of their own, so that the frame of wait,
// on the stack of every caller that misses, stays small.
func (c *Cache[K, V]) wait(ctx context.Context, key K, slow <-chan time.Time) waited[V] {
	sh := c.shard(key)
	for {
		if err := ctx.Err(); err != nil {
			return waited[V]{err: err, ctxDone: true}
		}
		sh.mu.Lock()
		cl := sh.flights[key]
		if cl != nil && (cl.abandoned || c.overdue(cl)) {
			sh.mu.Unlock()
			if w, ok := c.waitGone(ctx, sh, key, cl, slow); ok {
				return w
			}
			continue // it is done, or given up on: start a load of our own
		}
		if cl == nil {
			// A load finishes under this lock: it may have stored a value
			// since the caller looked.
			if e, ok := c.store.GetIfPresent(key); ok && c.now() < e.freshUntil {
				sh.mu.Unlock()
				return waited[V]{fresh: e}
			}
			if sh.stuck[key] >= maxStuckLoads {
				sh.mu.Unlock()
				return waited[V]{err: c.errStuck}
			}
			cl = c.start(sh, ctx, key, false, nil)
			if cl == nil {
				sh.mu.Unlock()
				return waited[V]{err: ErrClosed}
			}
		}
		cl.waiters++
		sh.mu.Unlock()
		// Only the load's context is waited on, not done as well: finish
		// cancels it right after closing done, so it ends for every outcome
		// (a result, the LoadTimeout, Close) and a waiter's select stays as
		// cheap as it was.
		select {
		case <-cl.ctxDone:
			return c.loadEnded(ctx, sh, key, cl, slow)
		case <-slow:
			c.leave(sh, cl, true)
			return waited[V]{slow: true}
		case <-ctx.Done():
			c.leave(sh, cl, false)
			return waited[V]{err: ctx.Err(), ctxDone: true}
		}
	}
}

// waitGone waits for cl, a load of key that its last waiter abandoned (its
// loader has been told to stop but has not returned) or that is past its
// LoadTimeout: until it returns, so that the source sees one load of the
// key at a time, but no longer than its LoadTimeout. It reports true, with
// the outcome, when ctx or the caller's patience ended first.
func (c *Cache[K, V]) waitGone(ctx context.Context, sh *shard[K, V], key K, cl *call[V], slow <-chan time.Time) (waited[V], bool) {
	w, overdue := c.waitOut(ctx, cl, slow)
	if overdue {
		sh.mu.Lock()
		gaveUp := c.giveUp(sh, key, cl)
		sh.mu.Unlock()
		if gaveUp {
			c.reportGiveUp(ctx, cl)
		}
		return w, false
	}
	return w, w.slow || w.ctxDone
}

// loadEnded is the outcome of a wait for cl, joined by the caller, whose
// context ended: cl finished, or passed its LoadTimeout (the cache gives up
// on it), or Close cancelled it (the caller then waits on).
func (c *Cache[K, V]) loadEnded(ctx context.Context, sh *shard[K, V], key K, cl *call[V], slow <-chan time.Time) waited[V] {
	w, overdue := c.waitOut(ctx, cl, slow)
	switch {
	case overdue:
		sh.mu.Lock()
		gaveUp := c.giveUp(sh, key, cl)
		expired := cl.expired
		sh.mu.Unlock()
		if gaveUp {
			c.reportGiveUp(ctx, cl)
		}
		if !expired { // it finished meanwhile
			<-cl.done
			return c.finished(cl)
		}
		return waited[V]{cl: cl, err: c.errGaveUp}
	case w.slow:
		c.leave(sh, cl, true)
	case w.ctxDone:
		c.leave(sh, cl, false)
	}
	return w
}

// overdue reports whether cl is still running past its LoadTimeout. The
// caller holds the shard's mutex.
func (c *Cache[K, V]) overdue(cl *call[V]) bool {
	return !cl.finished && !cl.expired && c.now() >= cl.deadline
}

// finished is the outcome of a wait for cl that saw cl.done closed.
func (c *Cache[K, V]) finished(cl *call[V]) waited[V] {
	if cl.expired { // set, if at all, before done was closed
		return waited[V]{cl: cl, err: c.errGaveUp}
	}
	return waited[V]{cl: cl}
}

// waitOut waits until cl is done or past its LoadTimeout, for a caller
// that can no longer wait on cl's context (it is cancelled). It reports
// true when cl's LoadTimeout has passed first; otherwise it returns the
// outcome: cl's result, or the end of ctx or of the caller's patience.
func (c *Cache[K, V]) waitOut(ctx context.Context, cl *call[V], slow <-chan time.Time) (waited[V], bool) {
	select {
	case <-cl.done:
		return c.finished(cl), false
	default:
	}
	d := cl.deadline - c.now()
	if d <= 0 {
		return waited[V]{}, true
	}
	t := time.NewTimer(time.Duration(d)) // rare: a load cancelled before its LoadTimeout
	defer t.Stop()
	select {
	case <-cl.done:
		return c.finished(cl), false
	case <-t.C:
		return waited[V]{}, true
	case <-slow:
		return waited[V]{slow: true}, false
	case <-ctx.Done():
		return waited[V]{err: ctx.Err(), ctxDone: true}, false
	}
}

// giveUp gives up on cl, which is past its LoadTimeout with its loader not
// returned: it takes cl off the key, so that the next Get starts a new
// load, and marks its result to be dropped. The loader keeps its goroutine
// until it returns. It reports whether it gave up on cl (false: cl had
// finished, or was given up on already); the caller, who holds the
// shard's mutex, then reports the end of the load with reportGiveUp once
// it has let go of the mutex.
func (c *Cache[K, V]) giveUp(sh *shard[K, V], key K, cl *call[V]) bool {
	if cl.finished || cl.expired {
		return false
	}
	cl.expired = true
	cl.cancel()
	if sh.flights[key] == cl {
		delete(sh.flights, key)
	}
	if sh.stuck == nil {
		sh.stuck = make(map[K]int)
	}
	sh.stuck[key]++
	c.stuck.Add(1)
	c.loadErrors.Add(1)
	return true
}

// reportGiveUp reports the end of cl, a load the cache gave up on at its
// LoadTimeout: for the cache it ends there, whenever its loader returns.
// ctx is that of the Get that gave up on it.
func (c *Cache[K, V]) reportGiveUp(ctx context.Context, cl *call[V]) {
	if c.obs != nil {
		c.reportLoad(ctx, c.now(), cl, c.errGaveUp)
	}
}

// reportLoad reports, to the Observer, which is not nil, the end at now of
// the load cl with the error err: a not-found answer is no failure, and is
// told apart by its Reason.
func (c *Cache[K, V]) reportLoad(ctx context.Context, now int64, cl *call[V], err error) {
	e := resilience.Event{Kind: resilience.EventCacheLoad, Policy: "cache", Name: c.name,
		Duration: time.Duration(now - cl.started(c.s.loadTimeout)), Err: err}
	if pe, ok := err.(*PanicError); ok {
		e.Err = pe.clone() // the Observer may keep it: its own, as every caller's
	} else if err != nil && errors.Is(err, ErrNotFound) {
		e.Err, e.Reason = nil, ReasonNotFound
	}
	c.obs.Observe(ctx, e)
}

// started returns when cl started, in Unix nanoseconds: its deadline less
// the LoadTimeout it was given.
func (cl *call[V]) started(loadTimeout time.Duration) int64 {
	return cl.deadline - int64(loadTimeout)
}

// leave takes off cl a waiter whose context ended, and cancels the load
// when it was the last one; or, with keep, a waiter that takes a stale
// value instead, and leaves the load running to fill the cache.
func (c *Cache[K, V]) leave(sh *shard[K, V], cl *call[V], keep bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cl.waiters--
	if keep {
		cl.background = true
	}
	if cl.waiters == 0 && !cl.background && !cl.finished {
		cl.abandoned = true
		cl.cancel()
	}
}

// refresh starts a background load of key, unless one is in flight, for
// the entry e that a Get found due for it. A refresh in flight past its
// LoadTimeout is given up on, and another one started.
func (c *Cache[K, V]) refresh(ctx context.Context, key K, e *entry[V], now int64) {
	d := e.refreshing.Load()
	if d != 0 && now < d {
		return // this entry's refresh is in flight
	}
	if !e.refreshing.CompareAndSwap(d, math.MaxInt64) {
		return // another Get is starting it
	}
	sh := c.shard(key)
	sh.mu.Lock()
	cur, _ := c.store.GetIfPresent(key)
	fl := sh.flights[key]
	var gaveUp *call[V]
	if fl != nil && c.overdue(fl) {
		if c.giveUp(sh, key, fl) {
			gaveUp = fl
		}
		fl = nil
	}
	// cur != e: a load has replaced e (or Delete removed it) since the
	// caller read it; nothing is left to refresh.
	var cl *call[V]
	if cur == e && fl == nil && sh.stuck[key] < maxStuckLoads {
		cl = c.start(sh, ctx, key, true, e)
	}
	if cl != nil {
		e.refreshing.Store(cl.deadline)
	} else {
		e.refreshing.Store(0)
	}
	sh.mu.Unlock()
	if gaveUp != nil {
		c.reportGiveUp(ctx, gaveUp)
	}
}

// start starts a load of key, with a context detached from parent, and
// registers it in sh, whose mutex the caller holds. It returns nil after
// Close.
func (c *Cache[K, V]) start(sh *shard[K, V], parent context.Context, key K, background bool, trigger *entry[V]) *call[V] {
	if !c.track() {
		return nil
	}
	cl := &call[V]{
		done:       make(chan struct{}),
		background: background,
		trigger:    trigger,
	}
	cl.parent = detached{ctx: parent, r: cl}
	ctx, cancel := context.WithTimeout(&cl.parent, c.s.loadTimeout)
	deadline, _ := ctx.Deadline()
	cl.ctxDone, cl.cancel = ctx.Done(), cancel
	cl.deadline = addSat(c.baseUnix, int64(deadline.Sub(c.base)))
	sh.flights[key] = cl
	c.loads.Add(1)
	c.inFlight.Add(1)
	go c.run(ctx, sh, key, cl)
	return cl
}

// errGoexit is the panic value reported for a loader that called
// runtime.Goexit.
var errGoexit = errors.New("cache: loader called runtime.Goexit")

// run calls the loader for cl, stores the result and wakes the waiters. A
// panic in the loader (or a runtime.Goexit) is recovered here: the waiters
// get a *PanicError and Config.OnPanic is called with it.
func (c *Cache[K, V]) run(ctx context.Context, sh *shard[K, V], key K, cl *call[V]) {
	var (
		v        V
		err      error
		returned bool
	)
	defer func() {
		var pe *PanicError
		if !returned {
			r := recover()
			if r == nil {
				r = errGoexit
			}
			pe = &PanicError{Key: key, Value: r, Stack: debug.Stack()}
			err = pe
		}
		c.finish(ctx, sh, key, cl, v, err)
		c.bg.Done()
		if pe != nil {
			c.s.onPanic(ctx, pe)
		}
	}()
	v, err = c.load(ctx, key)
	returned = true
}

// finish stores the result of cl (unless something made it moot), reports
// the end of the load (unless the cache gave up on it, which reported it
// then) and wakes its waiters. ctx is the load's.
func (c *Cache[K, V]) finish(ctx context.Context, sh *shard[K, V], key K, cl *call[V], v V, err error) {
	now := c.now()
	loadedAt := now
	if t := cl.reported.Load(); t != 0 && t < now {
		loadedAt = t
	}
	notFound := err != nil && errors.Is(err, ErrNotFound)
	var e *entry[V]
	switch {
	case err == nil:
		e = positive(&c.s, v, loadedAt)
	case notFound && c.s.negativeTTL > 0:
		e = negative[V](&c.s, err, loadedAt)
	}

	if err != nil && !notFound && now >= cl.deadline && errors.Is(err, context.DeadlineExceeded) {
		err = &loadTimeoutError{after: c.s.loadTimeout, cause: err}
	}

	sh.mu.Lock()
	if sh.flights[key] == cl {
		delete(sh.flights, key)
	}
	expired := cl.expired
	if expired {
		if sh.stuck[key]--; sh.stuck[key] == 0 {
			delete(sh.stuck, key)
		}
	}
	stored := false
	if !cl.noStore && !cl.abandoned && !expired {
		switch {
		case e != nil:
			c.store.Set(key, e)
			stored = true
		case notFound:
			c.store.Invalidate(key) // the source says it is gone
		}
	}
	if err != nil && cl.closing && !notFound {
		err = fmt.Errorf("%w (load stopped: %w)", ErrClosed, err)
	}
	cl.val, cl.err, cl.loadedAt = v, err, loadedAt
	cl.finished = true
	sh.mu.Unlock()

	if cl.trigger != nil && !stored && !expired {
		cl.trigger.refreshing.Store(0) // the entry stays: it may be refreshed again
	}
	// Count before waking the waiters, so that they see the metrics of
	// their own load.
	c.inFlight.Add(-1)
	switch {
	case expired:
		c.stuck.Add(-1) // counted as a load error when given up
	case err != nil && !notFound:
		c.loadErrors.Add(1)
	}
	// Report before waking the waiters too: a Get that returns has seen
	// the event of the load it waited for.
	if c.obs != nil && !expired {
		c.reportLoad(ctx, now, cl, err)
	}
	close(cl.done)
	cl.cancel() // after done, so that waiters see done first
}

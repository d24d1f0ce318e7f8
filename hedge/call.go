package hedge

import (
	"context"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
)

// call is the state of one hedged call of Do. The first attempt runs on the
// caller's goroutine; the timer starts each hedge on a goroutine of its own;
// an attempt that fails starts the next one on its own goroutine. mu guards
// everything below it; the race's Win and End, and the release of the
// winner's context, happen on the caller's goroutine once every attempt
// returned.
type call struct {
	h     *Hedge
	ctx   context.Context // the caller's
	op    func(context.Context) error
	race  *resilience.Race
	delay time.Duration
	fire  func() // c.onTimer, bound once

	mu        sync.Mutex
	timer     *time.Timer
	armed     bool // the timer is scheduled, or its function is about to run
	firing    int  // runs of the timer's function asking the Budget for a hedge
	lastStart time.Time
	attempts  []attempt // the started ones: attempts[:started]
	started   int
	running   int // attempts started and not returned, and those about to start
	inline    int // the attempt the caller's goroutine runs, or -1
	// inlineReserved: the caller's goroutine asks the Budget for a hedge
	// (read by abandon, on that goroutine)
	inlineReserved bool
	settled        bool // the call is decided: no attempt starts any more
	outcome        int  // the attempt whose outcome Do returns, or -1
	err            error
	panicked       bool
	panicVal       any
	wake           wakeup // closed when the call is quiet, if the caller waits
	woken          bool
}

// attempt is one call of op.
type attempt struct {
	ctx    context.Context // the race's attempt context, for op
	cancel context.CancelCauseFunc
	start  time.Time // for the adaptive delay
	done   bool      // op returned
}

// hedged is Do with hedges.
func (h *Hedge) hedged(ctx context.Context, op func(context.Context) error) error {
	c := h.getCall(ctx, op)
	if h.counts {
		h.budget.Request()
	}
	ended := false
	defer func() {
		if !ended { // a panic (or Goexit) on the caller's goroutine
			c.abandon()
		}
	}()
	first := prepare(ctx)
	c.mu.Lock()
	i, actx := c.startLocked(false, first)
	c.inline = i
	c.armed = true
	c.timer = time.AfterFunc(c.delay, c.fire)
	c.mu.Unlock()
	c.runInline(i, actx)
	c.wait()
	ended = true
	return c.end()
}

// The state of a call is pooled: it is the one allocation of a call that
// no one holds once the call is quiet — every attempt returned, and the
// timer's function ran or never will. The contexts of the attempts, the
// race and the timer are made afresh for each call, since an attempt's
// context (the winner's, under resilience.Transport) outlives Do.

func newCall(h *Hedge) *call {
	c := &call{h: h, attempts: make([]attempt, 1+h.maxHedges)}
	c.fire = c.onTimer
	return c
}

func (h *Hedge) getCall(ctx context.Context, op func(context.Context) error) *call {
	c := h.calls.Get().(*call)
	c.ctx, c.op, c.race, c.delay = ctx, op, resilience.NewRace(ctx), h.Delay()
	c.inline, c.outcome = -1, -1
	return c
}

// put returns a quiet call to the pool. Its mutex is left alone: the last
// goroutine to lock it may still be unlocking it.
func (c *call) put() {
	for j := range c.started {
		c.attempts[j] = attempt{}
	}
	c.ctx, c.op, c.race, c.timer = nil, nil, nil, nil
	c.armed, c.firing, c.lastStart, c.started, c.running = false, 0, time.Time{}, 0, 0
	c.inlineReserved, c.settled, c.err, c.panicked, c.panicVal = false, false, nil, false, nil
	c.wake, c.woken = nil, false
	c.h.calls.Put(c)
}

// runInline runs attempts on the caller's goroutine: the first, and those
// that a failure of one of them started.
func (c *call) runInline(i int, actx context.Context) {
	var cause error
	for i >= 0 {
		if i > 0 {
			c.hook(i, cause)
		}
		err := c.op(actx)
		i, actx, cause = c.finished(i, err, &c.inlineReserved)
		c.inline = i // read by abandon, on this goroutine
	}
}

// onTimer is the timer's function: it starts a hedge, if one is due and
// the Budget allows it, and runs it (and those its failures start) on the
// timer's goroutine. A panic there (in op, a hook or the Budget) is
// recovered and goes on in the caller's goroutine.
func (c *call) onTimer() {
	i, actx, firing, reserved, returned := -1, context.Context(nil), false, false, false
	defer func() {
		if !returned {
			c.crashed(i, recover(), firing, reserved)
		}
	}()
	c.mu.Lock()
	c.armed = false
	ctx := c.ctx
	switch {
	case c.settled || c.started > c.h.maxHedges:
	case c.early():
		// Fired for a delay that a hedge started on a failure has
		// restarted since: wait for the rest of it.
		c.armed = true
		c.timer.Reset(c.delay - time.Since(c.lastStart))
	default:
		// The call is not quiet while the Budget is asked, but it may be
		// decided meanwhile, as when the timer is armed. Two runs may ask
		// at once: a hedge on a failure re-armed the timer for the second.
		c.firing++
		firing = true
	}
	wake := c.quietLocked()
	c.mu.Unlock()
	wake.ring()
	if !firing {
		returned = true
		return
	}
	// The caller's context, the Budget and the new attempt's context are
	// the caller's code: asked with no lock held.
	var next newAttempt
	if ctx.Err() == nil && c.ask() {
		next = prepare(ctx)
	}
	live := ctx.Err() == nil
	c.mu.Lock()
	c.firing--
	firing = false
	if next.ctx != nil && live && c.openLocked() {
		i, actx = c.startLocked(false, next)
		next = newAttempt{}
	}
	wake = c.quietLocked()
	c.mu.Unlock()
	wake.ring()
	next.discard()
	var cause error
	for i >= 0 {
		c.hook(i, cause)
		err := c.op(actx)
		i, actx, cause = c.finished(i, err, &reserved)
	}
	returned = true
}

// early reports whether the delay since the latest hedge has not passed.
func (c *call) early() bool {
	return !c.lastStart.IsZero() && time.Since(c.lastStart) < c.delay
}

// hook tells OnHedge and the Observer that attempt n (hedge n) starts.
func (c *call) hook(n int, cause error) {
	if c.h.onHedge != nil {
		c.h.onHedge(c.ctx, n, cause)
	}
	if c.h.observer != nil {
		c.h.observe(c.ctx, resilience.EventHedge, n+1, 0, cause)
	}
}

// openLocked reports whether a hedge may start: the call is not decided,
// and a hedge is left.
func (c *call) openLocked() bool {
	return !c.settled && c.started <= c.h.maxHedges
}

// newAttempt is the context of an attempt about to start, made with no lock
// held (deriving it calls the caller's context).
type newAttempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func prepare(ctx context.Context) newAttempt {
	actx, cancel := context.WithCancelCause(ctx)
	return newAttempt{actx, cancel}
}

// discard releases a context made for an attempt that did not start.
func (n newAttempt) discard() {
	if n.cancel != nil {
		n.cancel(ErrLost)
	}
}

// startLocked starts attempt number c.started with the context n and
// returns it with the context for op; a hedge restarts the delay for the
// next one.
func (c *call) startLocked(onFailure bool, n newAttempt) (int, context.Context) {
	i := c.started
	c.started++
	c.running++
	a := &c.attempts[i]
	a.ctx, a.cancel, a.done = c.race.Attempt(n.ctx), n.cancel, false
	if c.h.timed {
		a.start = time.Now()
	}
	if i == 0 {
		return i, a.ctx
	}
	c.h.stats.hedges.Add(1)
	if onFailure {
		c.h.stats.hedgesOnFailure.Add(1)
	}
	c.lastStart = time.Now() // before the timer is reset, so that it never fires early
	switch {
	case c.started > c.h.maxHedges: // the last one: no timer needed
		if c.armed && c.timer.Stop() {
			c.armed = false
		}
	case !c.armed:
		c.armed = true
		c.timer.Reset(c.delay)
	case onFailure:
		if c.timer.Stop() {
			c.timer.Reset(c.delay)
		} // else the timer's function is about to run: lastStart tells it to wait
	}
	return i, a.ctx
}

// ask asks the Budget for a hedge, with no lock held.
func (c *call) ask() bool {
	if c.h.budget == nil || c.h.budget.Withdraw() {
		return true
	}
	c.h.stats.budgetRefusals.Add(1)
	return false
}

// finished records that attempt i returned err, and returns the attempt
// that its goroutine runs next (a hedge started at once on a failure, with
// that failure as its cause), or -1. *reserved is true while it asks the
// Budget for that hedge, holding the call open.
func (c *call) finished(i int, err error, reserved *bool) (int, context.Context, error) {
	// The attempt's start was set by this goroutine, which started it;
	// its end is reported while it still counts as running, so before the
	// call can be quiet and Do return.
	h, start := c.h, c.attempts[i].start
	var now time.Time
	if h.observer != nil || err == nil && h.sketch != nil {
		now = time.Now()
		if h.observer != nil {
			h.observe(c.ctx, resilience.EventAttempt, i+1, now.Sub(start), err)
		}
	}
	// Classified before the lock is taken: the error's methods are the
	// caller's code.
	decides := err == nil || permanent(err)
	another := !decides && worthAnother(c.ctx, err)
	c.mu.Lock()
	a := &c.attempts[i]
	a.done = true
	c.running--
	lost := c.settled
	want := false
	switch {
	case lost: // another attempt decided the call
	case decides:
		c.settleLocked(i, err)
	case another && c.started <= c.h.maxHedges:
		want = true
	case c.running == 0: // nothing else runs: this failure is the last
		c.settleLocked(i, err)
	}
	next, nctx := -1, context.Context(nil)
	var unused newAttempt
	if want {
		// Reserved: the hedge about to start counts as running, so that
		// no other attempt's failure ends the call meanwhile, and this
		// attempt's outcome stays usable if the Budget refuses.
		c.running++
		*reserved = true
		ctx := c.ctx
		c.mu.Unlock()
		if c.ask() {
			unused = prepare(ctx)
		}
		live := ctx.Err() == nil
		c.mu.Lock()
		c.running--
		*reserved = false
		switch {
		case unused.ctx != nil && live && c.openLocked():
			next, nctx = c.startLocked(true, unused)
			unused = newAttempt{}
		case !c.settled && c.running == 0:
			c.settleLocked(i, err)
		}
	}
	if c.outcome != i {
		a.cancel(ErrLost) // its result is not the call's: release it now
	}
	wake := c.quietLocked()
	c.mu.Unlock()
	// The call may be quiet, and its state reused, from here on.
	wake.ring()
	unused.discard()
	if err == nil && h.sketch != nil {
		h.sketch.record(now.Sub(start), now)
	}
	if h.counts {
		switch {
		case err == nil:
			h.budget.Success()
		case another && !lost:
			h.budget.Failure()
		}
	}
	if next < 0 {
		err = nil
	}
	return next, nctx, err
}

// settleLocked decides the call with the outcome of attempt i: the other
// attempts are cancelled, and no attempt starts any more.
func (c *call) settleLocked(i int, err error) {
	c.settled = true
	c.outcome, c.err = i, err
	c.cancelOthersLocked(i)
}

func (c *call) cancelOthersLocked(keep int) {
	for j := range c.started {
		if a := &c.attempts[j]; j != keep && !a.done {
			a.cancel(ErrLost)
		}
	}
	if c.armed && c.timer.Stop() {
		c.armed = false
	}
}

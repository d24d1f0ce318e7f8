package hedge

import (
	"errors"
	"time"

	"github.com/resiliencekit/resilience"
)

// How a call ends: once it is quiet — decided, every attempt returned, and
// the timer's function not about to run — the caller's goroutine closes
// its race and returns (or panics). A panic on any goroutine decides the
// call too.

// errGoexit is the panic value Do raises when an attempt on a goroutine of
// the Hedge called runtime.Goexit (t.FailNow, say), which cannot be passed
// on to the caller's goroutine as it is.
var errGoexit = errors.New("hedge: an attempt called runtime.Goexit on a goroutine of the Hedge")

// crashed records that the goroutine of the Hedge running attempt i (-1:
// none yet) panicked with v (nil: it called runtime.Goexit), while it
// asked the Budget for a hedge of the timer (firing) or of a failure
// (reserved), or not. The panic decides the call, even one a success
// decided already: a panic is never swallowed.
func (c *call) crashed(i int, v any, firing, reserved bool) {
	if v == nil {
		v = errGoexit
	}
	c.mu.Lock()
	if firing {
		c.firing--
	}
	if reserved {
		c.running--
	}
	if i >= 0 {
		if a := &c.attempts[i]; !a.done {
			a.done = true
			c.running--
		}
	}
	if !c.panicked {
		c.panicked, c.panicVal = true, v
	}
	c.settled = true
	c.outcome, c.err = -1, nil
	c.cancelOthersLocked(-1)
	h := c.h
	wake := c.quietLocked()
	c.mu.Unlock()
	wake.ring()
	if h.counts {
		h.budget.Failure()
	}
}

// abandon cleans up after a panic (or runtime.Goexit) on the caller's
// goroutine, which goes on once every other attempt returned.
func (c *call) abandon() {
	c.mu.Lock()
	if c.started == 0 {
		c.mu.Unlock()
		return
	}
	if c.inlineReserved {
		c.inlineReserved = false
		c.running--
	}
	if i := c.inline; i >= 0 && !c.attempts[i].done {
		c.attempts[i].done = true
		c.running--
		if c.h.counts {
			defer c.h.budget.Failure()
		}
	}
	c.settled = true
	c.outcome, c.err = -1, nil
	c.cancelOthersLocked(-1)
	c.mu.Unlock()
	c.wait()
	c.release()
	c.put()
}

// quietLocked returns the channel to close, once c.mu is unlocked, to wake
// the caller when the call just became quiet: decided, every attempt
// returned, and the timer's function not about to run nor running. It returns nil
// otherwise, or when the caller does not wait.
func (c *call) quietLocked() wakeup {
	if c.wake == nil || c.woken || !c.quiet() {
		return nil
	}
	c.woken = true
	return c.wake
}

func (c *call) quiet() bool { return c.settled && c.running == 0 && !c.armed && c.firing == 0 }

// wakeup is the channel the caller waits on.
type wakeup chan struct{}

// ring wakes the caller, if w is not nil.
func (w wakeup) ring() {
	if w != nil {
		close(w)
	}
}

// wait returns once the call is quiet.
func (c *call) wait() {
	c.mu.Lock()
	if c.quiet() {
		c.mu.Unlock()
		return
	}
	c.wake = make(wakeup)
	wake := c.wake
	c.mu.Unlock()
	<-wake
}

// end closes the race of a quiet call and returns its outcome: the
// winner's result is kept, the others' discarded, and the winner's context
// lives on as long as its result (resilience.DeferRelease).
func (c *call) end() error {
	if c.panicked {
		v := c.panicVal
		c.release()
		c.put()
		panic(v)
	}
	a := &c.attempts[c.outcome]
	c.race.Win(a.ctx)
	c.race.End()
	if c.outcome > 0 && c.err == nil {
		c.h.stats.hedgeWins.Add(1)
	}
	ctx, cancel, err, h := c.ctx, a.cancel, c.err, c.h
	n, begin := c.started, c.attempts[0].start
	c.put()
	// Only resilience.Transport defers a release (for the body of the
	// response); RequestFrom is nil wherever DeferRelease would refuse, and
	// asking it first spares other calls the closure.
	if resilience.RequestFrom(ctx) == nil || !resilience.DeferRelease(ctx, func() { cancel(nil) }) {
		cancel(nil)
	}
	if h.observer != nil {
		h.observe(ctx, resilience.EventDone, n, time.Since(begin), err)
	}
	return err
}

// release closes the race of a call without winner (a panic) and releases
// every attempt's context.
func (c *call) release() {
	c.race.End()
	for j := range c.started {
		c.attempts[j].cancel(ErrLost)
	}
}

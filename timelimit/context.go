package timelimit

import (
	"context"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The context a TimeLimit gives op is a type of this package rather than
// context.WithTimeout's, because that costs a runtime timer, two clock
// reads and four allocations per call. All the calls of one TimeLimit have
// the same time limit, so their deadlines come in the order the calls
// start: a TimeLimit keeps its calls in flight in a queue ordered by
// deadline, and one timer, set for the head. A call joins at the tail and
// leaves from wherever it is when op returns; the timer is moved only when
// it would fire too late (the queue was empty, or a call's deadline was
// earlier than the head's, as calls that started in the same microsecond
// can be queued in either order), and when it fires it expires the calls
// that are due and is set for the next. A call reads the clock once and
// allocates its context, nothing else, until op asks for Done or derives a
// cancellable context.
//
// The parent's cancellation is looked at lazily: Err consults the parent
// while the call is live, and only Done (which must return a channel that
// the parent's cancellation closes) and AfterFunc register with it.
//
// context.Cause finds the cause of a context through the standard
// library's unexported cancelCtxKey; limitCtx answers that key itself
// once it expired or was released, with a shared cancelled context that
// holds the right cause.

// cancelCtxKey is the key context.Cause asks a context's Value for, found
// at init by asking context.Cause about a context that records the key.
var cancelCtxKey = func() any {
	var p keyProbe
	_ = context.Cause(&p)
	return p.key
}()

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Err() error            { return context.Canceled }
func (p *keyProbe) Value(key any) any     { p.key = key; return nil }
func (p *keyProbe) Done() <-chan struct{} { return nil }

// causeOf returns a cancelled context whose cause is cause: what a
// limitCtx answers to cancelCtxKey once it is done.
func causeOf(cause error) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	return ctx
}

// releasedCause answers cancelCtxKey for a context released after op
// returned: its cause is context.Canceled, as for a cancelled WithCancel.
var releasedCause = causeOf(context.Canceled)

// closed is the Done channel of a limitCtx that was done before its Done
// was first asked for.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

const (
	live     uint32 = iota
	expired         // by its time limit
	released        // by Do, after op returned
	parental        // by its parent
)

// limitCtx is the context of one call of a TimeLimit's Do.
type limitCtx struct {
	parent   context.Context
	deadline time.Time // the time limit's (Deadline returns the parent's if earlier)
	q        *queue

	state atomic.Uint32 // live until done, then how

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	err   error         // the parent's error, for parental
	funcs []*afterFunc  // registered by AfterFunc, run when done
	stop  func() bool   // stops the registration with the parent

	prev, next *limitCtx // in q, guarded by q.mu
	queued     bool      // guarded by q.mu
}

func (c *limitCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *limitCtx) Err() error {
	switch c.state.Load() {
	case live:
		if err := c.parent.Err(); err != nil {
			c.cancel(parental, err)
			return c.Err()
		}
		return nil
	}
	// Done: cancel holds mu from the change of state to the closing of
	// the channel, so that Err does not report an error before Done is
	// closed.
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state.Load() {
	case expired:
		return context.DeadlineExceeded
	case released:
		return context.Canceled
	}
	return c.err
}

func (c *limitCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		if c.state.Load() != live {
			c.done = closed
		} else {
			c.done = make(chan struct{})
			c.watchParentLocked()
		}
	}
	d := c.done
	c.mu.Unlock()
	// The parent may have been cancelled before the registration: Err
	// must not say so before the channel is closed.
	if c.state.Load() == live {
		if err := c.parent.Err(); err != nil {
			c.cancel(parental, err)
		}
	}
	return d
}

func (c *limitCtx) Value(key any) any {
	if key == cancelCtxKey && key != nil {
		switch c.state.Load() {
		case expired:
			return c.q.cause
		case released:
			return releasedCause
		}
	}
	return c.parent.Value(key)
}

// AfterFunc arranges to call f in its own goroutine once c is done, as
// context.AfterFunc does; context.WithCancel and its kin use it to
// propagate c's cancellation to the contexts derived from c without a
// goroutine each.
func (c *limitCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.state.Load() != live {
		c.mu.Unlock()
		a.start()
	} else {
		c.funcs = append(c.funcs, a)
		c.watchParentLocked()
		c.mu.Unlock()
	}
	return a.stop
}

// watchParentLocked has the parent's cancellation cancel c, once.
func (c *limitCtx) watchParentLocked() {
	if c.stop == nil && c.parent.Done() != nil {
		c.stop = context.AfterFunc(c.parent, func() {
			c.cancel(parental, c.parent.Err())
		})
	}
}

// cancel makes c done, how, unless it already is.
func (c *limitCtx) cancel(how uint32, err error) {
	c.mu.Lock()
	if c.state.Load() != live {
		c.mu.Unlock()
		return
	}
	if how == parental {
		c.err = err
	}
	c.state.Store(how)
	if c.done == nil {
		c.done = closed
	} else {
		close(c.done)
	}
	funcs, stop := c.funcs, c.stop
	c.funcs, c.stop = nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, a := range funcs {
		a.start()
	}
	if how != expired {
		c.q.remove(c)
	}
}

// expireIfDue expires c if its own deadline is not after now, as the
// timer would have: op failed as the deadline passed.
func (c *limitCtx) expireIfDue(now time.Time) {
	if c.deadline.After(now) {
		return
	}
	c.q.remove(c)
	if err := c.parent.Err(); err != nil {
		c.cancel(parental, err)
	} else {
		c.cancel(expired, nil)
	}
}

// release ends the call: op returned (or its response body was closed).
func (c *limitCtx) release() { c.cancel(released, nil) }

// afterFunc is a function registered with limitCtx.AfterFunc.
type afterFunc struct {
	once sync.Once
	f    func()
}

func (a *afterFunc) start() { a.once.Do(func() { go a.f() }) }

func (a *afterFunc) stop() bool {
	stopped := false
	a.once.Do(func() { stopped = true })
	return stopped
}

// queue holds the live calls of a TimeLimit by deadline, and the timer
// that expires them.
type queue struct {
	cause context.Context // what an expired call answers to cancelCtxKey

	mu         sync.Mutex
	head, tail *limitCtx
	timer      *time.Timer // made by the first call: outside any synctest bubble
	armed      time.Time   // when timer fires; zero when it is stopped or fired
}

// queues are the queues of a TimeLimit: four per P (rounded up to a power
// of two, at most 64), so that calls on different CPUs seldom take one
// mutex. A call joins the queue its goroutine's stack address picks (with
// one queue per P, two goroutines on two CPUs shared one half the time);
// the queues share nothing but the cause.
type queues struct {
	qs    []paddedQueue
	shift uint8 // 64 - log2(len(qs))
}

// paddedQueue keeps each queue's mutex on cache lines of its own.
type paddedQueue struct {
	queue
	_ [128 - unsafe.Sizeof(queue{})%128]byte
}

func newQueues(cause error) queues {
	n := min(4*runtime.GOMAXPROCS(0), 64)
	b := bits.Len(uint(n - 1)) // n rounded up to 1<<b
	qs := queues{qs: make([]paddedQueue, 1<<b), shift: uint8(64 - b)}
	ctx := causeOf(cause)
	for i := range qs.qs {
		qs.qs[i].cause = ctx
	}
	return qs
}

// pick returns the caller's queue, by the address of its stack: one
// goroutine keeps to one queue, and goroutines spread over them.
func (qs queues) pick() *queue {
	if len(qs.qs) == 1 {
		return &qs.qs[0].queue
	}
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))) >> 11 // 2 KiB: the smallest goroutine stack
	return &qs.qs[(h*0x9e3779b97f4a7c15)>>qs.shift].queue
}

// start returns the context of a call that began at now.
func (q *queue) start(parent context.Context, now time.Time, d time.Duration) *limitCtx {
	c := &limitCtx{parent: parent, deadline: now.Add(d), q: q}
	q.mu.Lock()
	// Join at the tail, or before the calls queued since now was read
	// whose deadlines are later (rare: a few steps at most).
	at := q.tail
	for at != nil && at.deadline.After(c.deadline) {
		at = at.prev
	}
	c.prev = at
	if at == nil {
		c.next, q.head = q.head, c
	} else {
		c.next, at.next = at.next, c
	}
	if c.next == nil {
		q.tail = c
	} else {
		c.next.prev = c
	}
	c.queued = true
	switch {
	case q.timer == nil:
		q.armed = c.deadline
		q.timer = time.AfterFunc(d, q.fire)
	case q.armed.IsZero() || c.deadline.Before(q.armed):
		q.armed = c.deadline
		q.timer.Reset(d)
	}
	q.mu.Unlock()
	return c
}

// remove takes c out of the queue, if it is still in it.
func (q *queue) remove(c *limitCtx) {
	q.mu.Lock()
	if c.queued {
		q.unlinkLocked(c)
	}
	q.mu.Unlock()
}

func (q *queue) unlinkLocked(c *limitCtx) {
	if c.prev == nil {
		q.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next == nil {
		q.tail = c.prev
	} else {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.queued = nil, nil, false
}

// fire expires the calls that are due and sets the timer for the next.
func (q *queue) fire() {
	now := time.Now()
	q.mu.Lock()
	var due *limitCtx // a list through next
	for c := q.head; c != nil && !c.deadline.After(now); c = q.head {
		q.unlinkLocked(c)
		c.next, due = due, c
	}
	q.armed = time.Time{}
	if q.head != nil {
		q.armed = q.head.deadline
		q.timer.Reset(q.head.deadline.Sub(now))
	}
	q.mu.Unlock()
	for due != nil {
		c := due
		due, c.next = c.next, nil
		if err := c.parent.Err(); err != nil {
			c.cancel(parental, err) // the parent came first
		} else {
			c.cancel(expired, nil)
		}
	}
}

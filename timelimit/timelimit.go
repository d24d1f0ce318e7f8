package timelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// DefaultGrace is how long after the time limit op may return before it
// counts as late, when Config.Grace is 0.
const DefaultGrace = 10 * time.Millisecond

// Config holds the optional settings of a [TimeLimit]. Every zero field
// means its documented default, so the zero value is ready to use: no hooks
// and a grace of [DefaultGrace].
type Config struct {
	// Name names the time limit for telemetry (logs, metrics, traces);
	// see [TimeLimit.Name]. Zero means "".
	Name string

	// Grace is how long after the time limit op may take to return before
	// the call counts as late: an op that honours its context returns
	// within microseconds of the deadline, one that ignores it returns
	// whenever it is done. 0 means [DefaultGrace]; resilience.None means
	// no grace (an op that returns at all after the deadline is late).
	// Other negative values panic.
	Grace time.Duration

	// OnTimeout, when not nil, is called for each call whose time limit
	// expired, after op returned, with the caller's context and the error
	// Do returns. It is called on the caller's goroutine, with no lock
	// held.
	OnTimeout func(ctx context.Context, err *TimeoutError)

	// OnLate, when not nil, is called for each call whose op returned more
	// than Grace after the time limit expired, with the caller's context
	// and how long after the deadline op returned. Such an op ignores its
	// context; fix it. It is called on the caller's goroutine after op
	// returned, with no lock held, before OnTimeout.
	OnLate func(ctx context.Context, late time.Duration)

	// Observer, when not nil, is told of each call whose time limit
	// expired (resilience.EventTimeout) and of each whose op returned
	// late (resilience.EventLate), as resilience.Events with Policy
	// "timelimit" and Name; see "Events" in the package documentation. It
	// is called where OnTimeout and OnLate are, after each of them: on the
	// caller's goroutine after op returned, with no lock held. Zero means
	// no observer: nothing is reported and nothing is paid (a call in
	// time never looks at it).
	Observer resilience.Observer
}

// Metrics counts the outcomes of a [TimeLimit] since it was made.
type Metrics struct {
	// Timeouts counts the calls whose time limit expired.
	Timeouts uint64
	// Late counts the timed-out calls whose op returned more than Grace
	// after the deadline.
	Late uint64
}

// TimeLimit runs each call with a time limit. Make one with [New]; the zero
// value is not usable. A TimeLimit is safe for concurrent use by many
// goroutines, and keeps no state between calls but its counters.
type TimeLimit struct {
	d     time.Duration
	cause *TimeoutError // the cause of every expiry of this TimeLimit's contexts
	qs    queues        // the calls in flight, and the timers that expire them
	// expiredErr is returned, shared (it is immutable), when op returns
	// context.DeadlineExceeded (or the cause) after the time limit expired,
	// as ops that honour their context do: no allocation for the usual
	// timeout.
	expiredErr *TimeoutError
	grace      time.Duration
	onTimeout  func(context.Context, *TimeoutError)
	onLate     func(context.Context, time.Duration)
	observer   resilience.Observer
	name       string

	timeouts atomic.Uint64
	late     atomic.Uint64
}

// New returns a TimeLimit that gives each call d, configured by c (the
// zero Config is ready to use). It panics if d is not positive, if
// c.Grace is negative (but for resilience.None), or if c.Observer is a
// typed nil.
func New(d time.Duration, c Config) *TimeLimit {
	if d <= 0 {
		panic(fmt.Sprintf("timelimit: time limit %v is not positive", d))
	}
	switch {
	case c.Grace == resilience.None:
		c.Grace = 0
	case c.Grace < 0:
		panic(fmt.Sprintf("timelimit: negative Grace %v", c.Grace))
	case c.Grace == 0:
		c.Grace = DefaultGrace
	}
	observe.Check("timelimit", c.Observer)
	cause := &TimeoutError{limit: d}
	return &TimeLimit{
		d:          d,
		cause:      cause,
		qs:         newQueues(cause),
		expiredErr: &TimeoutError{limit: d, err: context.DeadlineExceeded},
		grace:      c.Grace,
		onTimeout:  c.OnTimeout,
		onLate:     c.OnLate,
		observer:   c.Observer,
		name:       c.Name,
	}
}

// Limit returns the time limit the TimeLimit gives each call.
func (l *TimeLimit) Limit() time.Duration { return l.d }

// Name returns Config.Name.
func (l *TimeLimit) Name() string { return l.name }

// Do calls op once with a context derived from ctx that expires after the
// time limit, and waits for op to return.
//
// When the time limit expired before op returned, Do returns a
// [*TimeoutError] wrapping op's error (even if op then succeeded: its result
// came too late and its context is already cancelled). It matches
// [ErrTimeout] and context.DeadlineExceeded, and context.Cause of op's
// context returns an error that does too. Otherwise Do returns op's error
// unchanged, including when ctx was cancelled or its own deadline came
// (first, or by the time op returned): a caller's deadline is not
// disguised as this TimeLimit's.
//
// Do keeps the contract of resilience.Policy: it never abandons op, so an
// op that ignores its context makes Do return late (see [Config.OnLate]).
// A panic in op cancels op's context and propagates unchanged.
//
// When ctx comes from resilience.Transport, the cancellation of op's
// context is handed to it with resilience.DeferRelease, so that the body of
// the response stays readable, within the time limit, until it is closed.
func (l *TimeLimit) Do(ctx context.Context, op func(context.Context) error) error {
	now := time.Now()
	if l.d < queuedLimit || !hasMonotonic(now) {
		// In a synctest bubble (or after 2157) the bubble's fake clock
		// and timers belong to it, and the queue's timer to no bubble.
		return l.doStd(ctx, op)
	}
	actx := l.qs.pick().start(ctx, now, l.d)
	returned := false
	defer func() {
		if !returned { // op panicked
			actx.release()
		}
	}()
	err := op(actx)
	returned = true
	if err != nil && actx.state.Load() == live {
		// An op that failed as its deadline passed, before the timer
		// fired (a server that enforced the deadline it was sent, say),
		// timed out: only a failure pays for this clock read.
		actx.expireIfDue(time.Now())
	}
	if actx.state.Load() != expired || !l.expiredFirst(ctx, actx) {
		// (RequestFrom first: outside Transport and Handler, which is
		// where DeferRelease can hold the release, it saves making a
		// func of it.)
		if actx.state.Load() == live && (resilience.RequestFrom(ctx) == nil || !resilience.DeferRelease(ctx, actx.release)) {
			actx.release()
		}
		return err
	}
	return l.expired(ctx, actx, err)
}

// queuedLimit is the shortest time limit whose calls are queued (see
// queue). A shorter one takes context.WithTimeoutCause's context, which
// is done at once when its deadline has passed by the time it is made:
// the queue's timer would let such a call start, and the cost of a timer
// is not what matters at that scale.
const queuedLimit = time.Millisecond

// doStd is Do with a context of context.WithTimeoutCause.
func (l *TimeLimit) doStd(ctx context.Context, op func(context.Context) error) error {
	actx, cancel := context.WithTimeoutCause(ctx, l.d, l.cause)
	returned := false
	defer func() {
		if !returned { // op panicked
			cancel()
		}
	}()
	err := op(actx)
	returned = true
	if actx.Err() == nil || !l.expiredFirst(ctx, actx) {
		if !resilience.DeferRelease(ctx, cancel) {
			cancel()
		}
		return err
	}
	cancel()
	return l.expired(ctx, actx, err)
}

// hasMonotonic reports whether t holds a monotonic clock reading, as
// time.Now does but in a synctest bubble.
func hasMonotonic(t time.Time) bool { return t != t.Round(0) }

// expiredFirst reports whether actx, which is done, ended because of this
// TimeLimit's time limit and not because of the caller's context. As actx is
// cancelled only by its timer, by ctx or by the TimeLimit after op returned,
// it did if actx's deadline passed while ctx is still live and ctx's own
// deadline, if any, is later (two deadlines at the same instant fire in
// either order).
func (l *TimeLimit) expiredFirst(ctx, actx context.Context) bool {
	if actx.Err() != context.DeadlineExceeded || ctx.Err() != nil {
		return false
	}
	callers, ok := ctx.Deadline()
	if !ok {
		return true
	}
	ours, _ := actx.Deadline()
	return callers.After(ours)
}

// expired accounts for a call whose time limit expired and returns its
// error.
func (l *TimeLimit) expired(ctx, actx context.Context, err error) error {
	l.timeouts.Add(1)
	if deadline, ok := actx.Deadline(); ok {
		if late := time.Since(deadline); late > l.grace {
			l.late.Add(1)
			if l.onLate != nil {
				l.onLate(ctx, late)
			}
			if l.observer != nil {
				l.observer.Observe(ctx, resilience.Event{
					Kind: resilience.EventLate, Policy: "timelimit", Name: l.name, Duration: late,
				})
			}
		}
	}
	te := l.expiredErr
	if err != context.DeadlineExceeded && err != error(l.cause) { // the cause: do not nest it
		te = &TimeoutError{limit: l.d, err: err}
	}
	if l.onTimeout != nil {
		l.onTimeout(ctx, te)
	}
	if l.observer != nil {
		l.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventTimeout, Policy: "timelimit", Name: l.name, Duration: l.d, Err: te,
		})
	}
	return te
}

// Metrics returns the TimeLimit's counters.
func (l *TimeLimit) Metrics() Metrics {
	return Metrics{Timeouts: l.timeouts.Load(), Late: l.late.Load()}
}

package breaker

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// The state word packs the State in its low bits and a generation above
// them. Every change of state (and every Reset) bumps the generation, so a
// call can tell whether the breaker it started in is still the one it
// finishes in, with one atomic load.
const (
	stateMask = 1<<8 - 1
	genOne    = 1 << 8
)

// Breaker is a circuit breaker: a resilience.Policy that stops calling a
// dependency that keeps failing. Make one with [New]; the zero value is not
// usable. Use one breaker per dependency (see [Group] for one per host).
//
// In the Closed state calls go through and their outcomes are counted; on
// that path Do takes no lock and allocates nothing. When the trip rule of
// the Config is met the breaker opens: calls fail fast with an
// [*OpenError] (matching [ErrOpen]) until the open duration has passed.
// Then the breaker is half-open: a few probe calls go through — or the
// health check runs — and enough successes close it, one failure opens it
// again. Transitions happen lazily, in the calls that notice them (and in
// the health-check goroutine).
//
// A Breaker is safe for concurrent use by many goroutines.
type Breaker struct {
	// Read on every call; written only on transitions and failures.
	word    atomic.Uint64             // generation<<8 | State
	consec  atomic.Int64              // failures in a row in the current closed period
	pending atomic.Bool               // a window below MinCalls has failures: judge it on successes
	opened  atomic.Pointer[OpenError] // the rejection of the current (or last) open period; nil before the first
	timed   bool                      // closed calls need the clock (SlowCall)
	cfg     settings
	epoch   time.Time // monotonic origin of now

	// Written on every closed call (but in a time window, which counts
	// per bucket): the outcomes counted in Closed and Disabled. Striped, so
	// concurrent successes do not all write one cache line.
	calls stripes
	win   window

	// Cumulative counters off the success path.
	failures   atomic.Uint64
	slowCalls  atomic.Uint64
	ignored    atomic.Uint64
	rejections atomic.Uint64
	otherCalls atomic.Uint64 // probes, and calls that finished in a later generation

	mu          sync.Mutex
	probes      int // probes in flight, of this half-open period or earlier ones
	probeOK     int // successful probes in this half-open period
	reopens     int // opens since the breaker was last closed
	events      []event
	evHead      int
	dispatching bool
	health      *health // nil without Config.HealthCheck

	key string // the key of a Group's breaker, as held: Event.Key
}

// event is a change of state queued for OnStateChange and the Observer.
type event struct {
	ctx      context.Context
	from, to State
	err      error // the failure that made the change, if known
}

// New returns a closed Breaker configured by c. It panics with a
// "breaker: ..." message when c is invalid (see [Config]).
//
// A breaker with Config.HealthCheck owns a goroutine while it is open;
// call [Breaker.Close] when you are done with it. Without a health check
// Close is not needed.
func New(c Config) *Breaker { return newBreaker(c.settings(), "", false) }

// inFlight is the counter of the stripes of a Group's breaker that counts
// the calls in flight.
const inFlight = 1

func newBreaker(cfg settings, key string, keyed bool) *Breaker {
	b := &Breaker{cfg: cfg, epoch: time.Now(), key: key}
	b.word.Store(genOne | uint64(Closed))
	b.timed = b.cfg.slowCall > 0
	switch {
	case keyed:
		// Counter inFlight of the stripes counts the calls of Group.Do
		// in flight, beside the successes.
		b.calls.init(inFlight + 1)
	case b.cfg.mode != modeTime:
		b.calls.init(1)
	}
	b.win.init(b)
	if b.cfg.healthCheck != nil {
		b.health = newHealth(b, key, keyed)
	}
	return b
}

// now is the monotonic time since b.epoch. time.Since reads the clock once
// (time.Now reads it twice) and follows the fake clock of testing/synctest.
func (b *Breaker) now() int64 { return int64(time.Since(b.epoch)) }

// Name returns Config.Name. A breaker of a [Group] carries the Name of
// the Config it was made from, or the group's when that is "" (see
// [Group.Name]).
func (b *Breaker) Name() string { return b.cfg.name }

// State returns the current state. An open breaker whose open duration has
// passed reports Open until a call (or the health check) moves it on.
func (b *Breaker) State() State { return State(b.word.Load() & stateMask) }

// Do runs op unless the breaker rejects it, and counts op's outcome. It
// returns op's error unchanged, or an [*OpenError] matching [ErrOpen]
// without calling op.
//
// Do keeps the contract of resilience.Policy: it calls op at most once,
// with ctx, and returns after op returned; a panic in op counts as a
// failure (a half-open probe slot is released) and propagates. The
// outcome is classified by Config.Classify, after the failures that say
// nothing about the dependency are left out: one whose ctx the caller
// ended (its deadline or cancel, not a policy's time limit) by the time op
// returns, a cancelled call, a local rejection (see Config.Classify for
// the whole rule). A success always counts.
func (b *Breaker) Do(ctx context.Context, op func(context.Context) error) error {
	s := b.word.Load()
	if s&stateMask != uint64(Closed) || b.timed {
		return b.doSlow(ctx, op, s)
	}
	// Closed, and no clock needed: the path that must stay cheap.
	done := false
	defer func() {
		if !done {
			v := recover()
			b.recordClosed(ctx, s, panicOutcome(v), nil)
			if v != nil {
				panic(v)
			}
		}
	}()
	err := op(ctx)
	done = true
	if err == nil && b.cfg.classify == nil {
		b.succeeded(ctx, s)
		return nil
	}
	b.recordClosed(ctx, s, b.classify(ctx, err), err)
	return err
}

// succeeded records a success in Closed without the clock: the hot path.
func (b *Breaker) succeeded(ctx context.Context, s uint64) {
	if b.word.Load() != s {
		b.otherCalls.Add(1)
		return
	}
	if b.consec.Load() != 0 {
		b.consec.Store(0)
	}
	if b.cfg.mode == modeTime {
		b.win.time.hit()
	} else {
		b.calls.add(0)
	}
	if b.pending.Load() {
		b.judgeNow(ctx, s)
	}
}

// judgeNow judges the window after a success brought it closer to
// MinCalls.
func (b *Breaker) judgeNow(ctx context.Context, s uint64) {
	if b.judge(b.win.snapshot(b)) && State(s&stateMask) == Closed {
		b.trip(ctx, s, nil)
	}
}

// doSlow handles every call that is not a closed call without the clock.
func (b *Breaker) doSlow(ctx context.Context, op func(context.Context) error, s uint64) error {
	switch State(s & stateMask) {
	case Closed, Disabled:
		return b.doTimed(ctx, op, s)
	case Open:
		if e := b.opened.Load(); b.healthActive() || e.until > b.now() {
			return b.reject(ctx, e)
		}
		return b.probe(ctx, op)
	case HalfOpen:
		if b.healthActive() {
			return b.reject(ctx, halfOpenError)
		}
		return b.probe(ctx, op)
	}
	return b.reject(ctx, forcedOpenError)
}

// doTimed runs a call in Closed or Disabled, measuring it when needed.
func (b *Breaker) doTimed(ctx context.Context, op func(context.Context) error, s uint64) error {
	var start int64
	if b.cfg.slowCall > 0 {
		start = b.now()
	}
	done := false
	defer func() {
		if !done {
			v := recover()
			b.recordTimed(ctx, s, panicOutcome(v), start, nil)
			if v != nil {
				panic(v)
			}
		}
	}()
	err := op(ctx)
	done = true
	b.recordTimed(ctx, s, b.classify(ctx, err), start, err)
	return err
}

// recordTimed records the outcome o of a call in Closed or Disabled that
// returned err (nil for a panic) and started at start.
func (b *Breaker) recordTimed(ctx context.Context, s uint64, o Outcome, start int64, err error) {
	if !b.timed {
		b.recordClosed(ctx, s, o, err)
		return
	}
	now := b.now()
	slow := b.cfg.slowCall > 0 && now-start >= int64(b.cfg.slowCall)
	if o == Ignore {
		b.ignored.Add(1)
		return
	}
	if slow {
		b.slowCalls.Add(1)
	}
	if o == Failure {
		b.failures.Add(1)
	}
	if b.word.Load() != s {
		b.otherCalls.Add(1)
		return
	}
	trip := b.countConsecutive(o)
	if b.cfg.mode == modeTime {
		trip = b.win.time.add(now, o == Failure, slow) || trip
	} else {
		b.calls.add(0)
		switch {
		case b.cfg.mode != modeCount:
		case o == Failure || slow:
			trip = b.win.count.record(b, o == Failure, slow) || trip
		case b.pending.Load():
			trip = b.judge(b.win.snapshot(b)) || trip
		}
	}
	if trip && State(s&stateMask) == Closed {
		b.trip(ctx, s, err)
	}
}

// recordClosed records the outcome of a closed call that was not timed
// and returned err (nil for a panic).
func (b *Breaker) recordClosed(ctx context.Context, s uint64, o Outcome, err error) {
	switch o {
	case Ignore:
		b.ignored.Add(1)
		return
	case Success:
		b.succeeded(ctx, s)
		return
	}
	b.failures.Add(1)
	if b.word.Load() != s {
		b.otherCalls.Add(1)
		return
	}
	trip := b.countConsecutive(Failure)
	switch b.cfg.mode {
	case modeTime:
		trip = b.win.time.add(b.now(), true, false) || trip
	case modeCount:
		b.calls.add(0)
		trip = b.win.count.record(b, true, false) || trip
	default:
		b.calls.add(0)
	}
	if trip && State(s&stateMask) == Closed {
		b.trip(ctx, s, err)
	}
}

// countConsecutive keeps the run of failures and reports whether the
// consecutive rule trips.
func (b *Breaker) countConsecutive(o Outcome) bool {
	if o != Failure {
		if b.consec.Load() != 0 {
			b.consec.Store(0)
		}
		return false
	}
	n := b.consec.Add(1)
	return b.cfg.consecutive > 0 && n >= b.cfg.consecutive
}

// classify tells how a call that returned err counts. Failures that say
// nothing about the dependency are ignored before Config.Classify is
// asked: the caller's context is done by the caller's own doing (its
// deadline or cancel, not a policy's time limit), the call was cancelled,
// or a policy of this process refused it before it reached the dependency.
func (b *Breaker) classify(ctx context.Context, err error) Outcome {
	if err != nil && (resilience.CallerDone(ctx) || errors.Is(err, context.Canceled) || resilience.IsLocalRejection(err)) {
		return Ignore
	}
	if c := b.cfg.classify; c != nil {
		switch o := c(err); o {
		case Success, Ignore:
			return o
		}
		return Failure
	}
	if err == nil {
		return Success
	}
	return Failure
}

// panicOutcome tells how a call whose op panicked with v counts (v is nil
// when op called runtime.Goexit): a failure, but for http.ErrAbortHandler,
// the panic with which a handler gives up on a client that went away.
func panicOutcome(v any) Outcome {
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		return Ignore
	}
	return Failure
}

// reject counts a rejection, reports it to the Observer and returns e, an
// immutable error shared with the other rejections of its open period or
// state: nothing is allocated. No lock is held.
func (b *Breaker) reject(ctx context.Context, e *OpenError) error {
	b.rejections.Add(1)
	if b.cfg.observer != nil {
		b.cfg.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventReject, Policy: "breaker", Name: b.cfg.name, Key: b.key,
			Reason: e.reason(), Err: e,
		})
	}
	return e
}

// trip opens a closed breaker, unless it changed since s; err is the
// failure that tripped it (nil when not known).
func (b *Breaker) trip(ctx context.Context, s uint64, err error) {
	b.mu.Lock()
	if b.word.Load() == s {
		b.setLocked(ctx, Open, err)
	}
	b.mu.Unlock()
	b.dispatch()
}

package breaker

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/resiliencekit/resilience"
)

// probe runs op as a half-open probe, moving an open breaker whose open
// duration has passed to HalfOpen first.
func (b *Breaker) probe(ctx context.Context, op func(context.Context) error) error {
	b.mu.Lock()
	s := b.word.Load()
	switch State(s & stateMask) {
	case Open:
		if e := b.opened.Load(); e.until > b.now() || b.healthActive() {
			b.mu.Unlock()
			return b.reject(ctx, e)
		}
		b.setLocked(ctx, HalfOpen, nil)
		s = b.word.Load()
	case HalfOpen:
		if b.healthActive() {
			b.mu.Unlock()
			return b.reject(ctx, halfOpenError)
		}
	default:
		// Another call closed, reset or forced the breaker meanwhile.
		b.mu.Unlock()
		b.dispatch()
		return b.Do(ctx, op)
	}
	if b.probes >= b.cfg.maxProbes {
		b.mu.Unlock()
		b.dispatch()
		return b.reject(ctx, halfOpenError)
	}
	b.probes++
	b.mu.Unlock()
	b.dispatch()

	var start int64
	if b.cfg.slowCall > 0 {
		start = b.now()
	}
	done := false
	defer func() {
		if !done {
			v := recover()
			b.probeDone(ctx, s, panicOutcome(v), false, nil)
			if v != nil {
				panic(v)
			}
		}
	}()
	err := op(ctx)
	done = true
	o := b.classify(ctx, err)
	slow := b.cfg.slowCall > 0 && b.now()-start >= int64(b.cfg.slowCall)
	b.probeDone(ctx, s, o, slow, err)
	return err
}

// probeDone records the outcome of a probe started in generation s, which
// returned err (nil for a panic).
func (b *Breaker) probeDone(ctx context.Context, s uint64, o Outcome, slow bool, err error) {
	if o == Ignore {
		b.ignored.Add(1)
	} else {
		b.otherCalls.Add(1)
		if o == Failure {
			b.failures.Add(1)
		}
		if slow {
			b.slowCalls.Add(1)
			if b.cfg.slowRate > 0 && b.cfg.mode != modeConsecutive {
				o = Failure // the slow-call rule says the dependency still struggles
			}
		}
	}
	b.mu.Lock()
	b.probes--
	if b.word.Load() == s {
		switch o {
		case Success:
			b.probeOK++
			if b.probeOK >= b.cfg.successes {
				b.setLocked(ctx, Closed, nil)
			}
		case Failure:
			b.setLocked(ctx, Open, err)
		}
	}
	b.mu.Unlock()
	b.dispatch()
}

// setLocked moves the breaker to state to, in a new generation, and queues
// the change for OnStateChange and the Observer, with ctx, the context of
// what made the change, and err, the failure that made it (nil when none
// is known). b.mu is held.
func (b *Breaker) setLocked(ctx context.Context, to State, err error) {
	old := b.word.Load()
	from := State(old & stateMask)
	b.probeOK = 0
	switch to {
	case Closed:
		b.reopens = 0
		b.consec.Store(0)
		b.pending.Store(false)
		b.win.reset(b)
	case Open:
		d := b.openDuration()
		b.reopens++
		// One immutable rejection per open period, made here, off the
		// path of the calls it rejects.
		until := b.now() + int64(d)
		b.opened.Store(&OpenError{state: Open, until: until, end: b.epoch.Add(time.Duration(until))})
	}
	b.word.Store(old&^stateMask + genOne | uint64(to))
	if to == Open && b.health != nil {
		b.health.start()
	} else if b.health != nil {
		b.health.wake()
	}
	if from != to && b.notifies() {
		b.events = append(b.events, event{ctx, from, to, err})
	}
}

// notifies reports whether changes of state are reported: to
// OnStateChange, to the Observer or both.
func (b *Breaker) notifies() bool {
	return b.cfg.onStateChange != nil || b.cfg.observer != nil
}

// openDuration is the open duration for the next open, with growth and
// jitter.
func (b *Breaker) openDuration() time.Duration {
	c := &b.cfg
	d := float64(c.openDuration)
	if c.openMultiplier > 1 && b.reopens > 0 {
		d *= math.Pow(c.openMultiplier, float64(b.reopens))
	}
	d = min(d, float64(c.maxOpen))
	if c.openJitter > 0 {
		d -= d * c.openJitter * rand.Float64()
	}
	return time.Duration(d)
}

// dispatch delivers queued state changes to OnStateChange and the
// Observer, in order and without holding b.mu. Only one goroutine delivers
// at a time; changes queued meanwhile (also from inside the callback) are
// delivered by it.
func (b *Breaker) dispatch() {
	if !b.notifies() {
		return
	}
	b.mu.Lock()
	if b.dispatching {
		b.mu.Unlock()
		return
	}
	b.dispatching = true
	for b.evHead < len(b.events) {
		ev := b.events[b.evHead]
		b.evHead++
		b.mu.Unlock()
		b.deliver(ev)
		b.mu.Lock()
	}
	clear(b.events) // let go of the contexts
	b.events, b.evHead = b.events[:0], 0
	b.dispatching = false
	b.mu.Unlock()
}

// deliver calls OnStateChange, then the Observer; if one panics, delivery
// is handed over to the next dispatch before the panic goes on.
func (b *Breaker) deliver(ev event) {
	ok := false
	defer func() {
		if !ok {
			b.mu.Lock()
			b.dispatching = false
			b.mu.Unlock()
		}
	}()
	if f := b.cfg.onStateChange; f != nil {
		f(ev.ctx, ev.from, ev.to)
	}
	if o := b.cfg.observer; o != nil {
		o.Observe(ev.ctx, resilience.Event{
			Kind: resilience.EventStateChange, Policy: "breaker", Name: b.cfg.name, Key: b.key,
			From: ev.from.String(), To: ev.to.String(), Err: ev.err,
		})
	}
	ok = true
}

// ForceOpen isolates the dependency: the breaker moves to [ForcedOpen] and
// rejects every call until [Breaker.Reset]. Safe to call at any time.
// Config.OnStateChange gets context.Background() for this change, as for
// Disable and Reset.
func (b *Breaker) ForceOpen() { b.set(ForcedOpen) }

// Disable turns the breaker off: it moves to [Disabled], lets every call
// through and keeps measuring them (see [Breaker.Metrics]), but never opens
// until [Breaker.Reset].
func (b *Breaker) Disable() { b.set(Disabled) }

// Reset closes the breaker and forgets its window, its run of failures and
// the growth of its open duration. It also ends ForceOpen and Disable.
func (b *Breaker) Reset() { b.set(Closed) }

func (b *Breaker) set(to State) {
	b.mu.Lock()
	if b.State() != to || to == Closed {
		b.reopens = 0
		b.setLocked(context.Background(), to, nil)
	}
	b.mu.Unlock()
	b.dispatch()
}

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// Config holds the optional settings of an [Injector]. The zero Config is
// an enabled injector that records nothing and calls no hook.
type Config struct {
	// Name names the injector for telemetry (logs, metrics labels):
	// Injector.Name returns it. Zero means "".
	Name string
	// Recorder, when not nil, records every call the injector sees, with
	// or without a fault (see Recorder). It keeps every attempt in memory:
	// use one in tests, not in a long-running process.
	Recorder *Recorder
	// Disabled makes the injector start switched off: every call goes
	// through untouched until SetEnabled(true). Use it to ship fault
	// injection to production, dormant, for a game day.
	Disabled bool
	// OnInject, when not nil, is called for every fault injected, before
	// it takes effect, with the call's context (the ctx given to Do, the
	// request's context for Transport and Handler), the kind (KindLatency
	// for a delay) and the call. Use it to log or to export metrics. It is
	// called from the goroutine of the call, with no lock held, and must
	// be safe for concurrent use.
	OnInject func(ctx context.Context, k Kind, c Call)
	// Observer, when not nil, receives an EventInject for every fault
	// injected, just after OnInject: before the fault takes effect, with
	// the call's context, on its goroutine and with no lock held. Its
	// Reason is the kind of fault (see [Kind.String]), in snake_case:
	// "latency", "error", "status", "conn_reset", ... Zero means no
	// observer: nothing is reported and nothing is paid. See the package
	// doc's "# Events" section.
	Observer resilience.Observer
}

// Injector injects faults into calls. It is a resilience.Policy (its Do
// method), and it wraps HTTP clients ([Injector.Transport]) and servers
// ([Injector.Handler]); the three share its faults, switch, counters
// ([Injector.Metrics]) and recorder.
//
// Make one with [New] or [Policy]. An Injector is safe for concurrent use
// by many goroutines; its faults are fixed at construction.
type Injector struct {
	name     string
	faults   []Fault
	rec      *Recorder
	onInject func(context.Context, Kind, Call)
	observer resilience.Observer
	disabled atomic.Bool
	calls    atomic.Uint64
	counts   [numKinds]atomic.Uint64
}

// New returns an Injector of faults with the settings in cfg. It panics
// when a fault has neither a Delay nor an Action. An Injector with no
// faults injects nothing; with a Recorder it records the calls it sees.
func New(cfg Config, faults ...Fault) *Injector {
	for n, f := range faults {
		if f.Delay == nil && f.Action.kind == 0 {
			panic(fmt.Sprintf("chaos: fault %d has neither a Delay nor an Action", n))
		}
	}
	observe.Check("chaos", cfg.Observer)
	i := &Injector{
		name:     cfg.Name,
		faults:   append([]Fault(nil), faults...),
		rec:      cfg.Recorder,
		onInject: cfg.OnInject,
		observer: cfg.Observer,
	}
	i.disabled.Store(cfg.Disabled)
	return i
}

// Policy returns an Injector of faults with the default settings: enabled,
// no recorder. It is New(Config{}, faults...), named for where it goes:
//
//	p := resilience.Chain(retryPolicy, chaos.Policy(chaos.Fault{...}))
func Policy(faults ...Fault) *Injector { return New(Config{}, faults...) }

// Transport returns an http.RoundTripper that injects faults into the
// requests it sends through next. It is Policy(faults...).Transport(next);
// see [Injector.Transport].
func Transport(next http.RoundTripper, faults ...Fault) http.RoundTripper {
	return Policy(faults...).Transport(next)
}

// Handler returns an http.Handler that injects faults into the requests it
// serves with next. It is Policy(faults...).Handler(next); see
// [Injector.Handler].
func Handler(next http.Handler, faults ...Fault) http.Handler {
	return Policy(faults...).Handler(next)
}

// SetEnabled switches fault injection on or off, at once, for calls that
// start afterwards; calls already waiting out a fault are not affected. It
// is safe to call at any time from any goroutine (an atomic store), so a
// running service can start and stop an experiment without a restart.
//
// A disabled injector passes calls straight through, at the cost of one
// atomic load (it does not count them, see Metrics.Calls); with a Recorder
// it still records them.
func (i *Injector) SetEnabled(on bool) { i.disabled.Store(!on) }

// Enabled reports whether fault injection is switched on.
func (i *Injector) Enabled() bool { return !i.disabled.Load() }

// Metrics counts what an [Injector] has done since it was made (see
// [Injector.Metrics]).
type Metrics struct {
	// Calls counts the calls the injector considered for faults, with or
	// without a fault applied: the calls made while it was enabled.
	Calls uint64
	// Injected counts the faults injected, indexed by kind:
	// Injected[KindStatus] is how many calls got a Status. A call slowed
	// by a Delay and then failed counts once for KindLatency and once for
	// the failure's kind. Injected[0] is always zero.
	Injected [KindPanic + 1]uint64
}

// Metrics returns the counters of i. They are read one by one, not as one
// atomic snapshot: under concurrent calls, two of them may be a call apart.
func (i *Injector) Metrics() Metrics {
	m := Metrics{Calls: i.calls.Load()}
	for k := range m.Injected {
		m.Injected[k] = i.counts[k].Load()
	}
	return m
}

// Name returns Config.Name: the name of i for telemetry.
func (i *Injector) Name() string { return i.name }

// Do runs op unless a fault applies: it waits the faults' delays, then
// returns the error of the action that ends the call (see the actions for
// what each returns) or, when no action ends it, calls op once with ctx and
// returns its error. Body faults do not apply to Do. The call's key (see
// [Key]) is resilience.KeyFrom(ctx).
//
// Do keeps the resilience.Policy contract: it calls op at most once and
// returns only after op returned; a delay or a Hang returns ctx.Err() as
// soon as ctx is done; a panic in op (or an injected Panic) goes on to the
// caller, and the recorder marks the attempt as panicked.
func (i *Injector) Do(ctx context.Context, op func(context.Context) error) (err error) {
	if i.passThrough() {
		return op(ctx)
	}
	c := Call{Time: time.Now(), Key: resilience.KeyFrom(ctx)}
	p := i.plan(ctx, c, false)
	if i.rec == nil {
		return i.do(ctx, c, &p, op)
	}
	a := Attempt{Start: c.Time, Key: c.Key, Faults: p.kinds, Delay: p.delay}
	returned := false
	defer func() {
		a.End, a.Err, a.Panicked = time.Now(), err, !returned
		i.rec.add(a)
	}()
	err = i.do(ctx, c, &p, op)
	returned = true
	return err
}

func (i *Injector) do(ctx context.Context, c Call, p *plan, op func(context.Context) error) error {
	if p.delay > 0 {
		if err := sleep(ctx, p.delay); err != nil {
			return err
		}
	}
	if p.end == nil {
		return op(ctx)
	}
	switch a := p.end; a.kind {
	case KindError:
		return a.err
	case KindStatus:
		wait, _ := resilience.ParseRetryAfter(a.header.Get("Retry-After"), time.Now())
		return &resilience.StatusError{Code: a.code, Wait: wait}
	case KindHang:
		<-ctx.Done()
		return ctx.Err()
	case KindPanic:
		panic(a.panicV)
	default:
		return netError(a.kind, c)
	}
}

// plan is what the faults do to one call.
type plan struct {
	delay time.Duration
	end   *Action  // the action that ends the call, or nil
	body  []Action // body faults, in order
	kinds []Kind   // every fault injected, in order
}

// passThrough reports whether a call can skip the injector entirely:
// disabled, with nothing to record.
func (i *Injector) passThrough() bool { return i.rec == nil && i.disabled.Load() }

// plan decides which faults apply to call c and counts them. Body faults
// are considered only for HTTP calls.
func (i *Injector) plan(ctx context.Context, c Call, isHTTP bool) plan {
	var p plan
	if i.disabled.Load() {
		return p
	}
	i.calls.Add(1)
	for n := range i.faults {
		f := &i.faults[n]
		if !isHTTP && f.Action.body() && f.Delay == nil {
			continue
		}
		if f.Match != nil && !f.Match(c) || f.When != nil && !f.When(c) {
			continue
		}
		if f.Delay != nil {
			if d := f.Delay(); d > 0 {
				p.delay += d
				i.inject(ctx, KindLatency, c, &p)
			}
		}
		switch a := &f.Action; {
		case a.kind == 0:
		case a.body():
			if isHTTP {
				p.body = append(p.body, *a)
				i.inject(ctx, a.kind, c, &p)
			}
		default:
			p.end = a
			i.inject(ctx, a.kind, c, &p)
			return p
		}
	}
	return p
}

func (i *Injector) inject(ctx context.Context, k Kind, c Call, p *plan) {
	i.counts[k].Add(1)
	if i.rec != nil {
		p.kinds = append(p.kinds, k)
	}
	if i.onInject != nil {
		i.onInject(ctx, k, c)
	}
	if i.observer != nil {
		i.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventInject, Policy: "chaos", Name: i.name, Reason: eventReasons[k],
		})
	}
}

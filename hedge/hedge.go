package hedge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/errs"
	"github.com/resiliencekit/resilience/retry"
)

// Hedge runs hedged calls: when an attempt has not answered within a delay,
// it starts another one, and the first to succeed wins. It is a
// resilience.ConcurrentPolicy. Make one with [New]; the zero value is not
// usable. A Hedge is safe for concurrent use by many goroutines; one Hedge
// serves every call to a dependency, and learns the latency of its
// attempts when its delay is adaptive.
type Hedge struct {
	ncalls atomic.Uint64 // the one counter of the success path, on a line of its own
	_      [56]byte

	maxHedges int
	fixed     time.Duration // the fixed delay, or 0 for the adaptive one
	sketch    *sketch       // the adaptive delay, or nil
	budget    retry.Budget
	counts    bool // the Hedge counts requests and outcomes in budget
	onHedge   func(ctx context.Context, n int, err error)
	observer  resilience.Observer
	timed     bool // the attempts' starts are read: for the sketch or the observer
	name      string

	stats stats
	calls sync.Pool // *call
}

type stats struct {
	hedges          atomic.Uint64
	hedgesOnFailure atomic.Uint64
	hedgeWins       atomic.Uint64
	budgetRefusals  atomic.Uint64
	notRepeatable   atomic.Uint64
}

// Metrics counts what a [Hedge] has done since it was made. The counters
// are read one by one, not as one atomic snapshot.
type Metrics struct {
	// Calls counts the calls of Do.
	Calls uint64
	// Hedges counts the hedges started: the attempts after the first of
	// each call, after the delay or at once after a failure.
	Hedges uint64
	// HedgesOnFailure counts the hedges, among Hedges, that started at once
	// because an attempt failed with an error worth another attempt.
	HedgesOnFailure uint64
	// HedgeWins counts the calls that a hedge won: their successful
	// attempt was not the first.
	HedgeWins uint64
	// BudgetRefusals counts the hedges that Config.Budget refused.
	BudgetRefusals uint64
	// NotRepeatable counts the calls made with a single attempt because
	// resilience.Repeatable said the call may not be sent twice (a POST
	// without an Idempotency-Key under resilience.Transport, say).
	NotRepeatable uint64
}

// New returns a Hedge configured by c, whose zero fields take their
// defaults (see [Config]). It panics with a "hedge: ..." message on an
// invalid configuration.
func New(c Config) *Hedge {
	adaptive := c.Delay == 0
	c = c.withDefaults()
	h := &Hedge{
		maxHedges: c.MaxHedges,
		fixed:     c.Delay,
		budget:    c.Budget,
		counts:    c.Budget != nil && !c.BudgetCountedByRetry,
		onHedge:   c.OnHedge,
		observer:  c.Observer,
		name:      c.Name,
	}
	if adaptive && h.maxHedges > 0 {
		h.sketch = newSketch(c.Quantile, c.MinDelay, c.MaxDelay, c.Window)
	}
	h.timed = h.sketch != nil || h.observer != nil
	h.calls.New = func() any { return newCall(h) }
	return h
}

// Name returns Config.Name: the name of h for telemetry.
func (h *Hedge) Name() string { return h.name }

// CallsOpConcurrently returns true: a Hedge calls op from several
// goroutines at once (see resilience.ConcurrentPolicy). It says so even
// with MaxHedges resilience.None, so that its place in a Chain does not
// depend on its configuration.
func (h *Hedge) CallsOpConcurrently() bool { return true }

// Delay returns the delay after which a call that starts now would be
// hedged: the fixed Config.Delay, or the adaptive delay as it stands
// (MaxDelay until MinSamples latencies are known). It is 0 with MaxHedges
// resilience.None.
func (h *Hedge) Delay() time.Duration {
	if h.sketch != nil {
		return h.sketch.estimate()
	}
	return h.fixed
}

// Metrics returns the counters of h.
func (h *Hedge) Metrics() Metrics {
	return Metrics{
		Calls:           h.ncalls.Load(),
		Hedges:          h.stats.hedges.Load(),
		HedgesOnFailure: h.stats.hedgesOnFailure.Load(),
		HedgeWins:       h.stats.hedgeWins.Load(),
		BudgetRefusals:  h.stats.budgetRefusals.Load(),
		NotRepeatable:   h.stats.notRepeatable.Load(),
	}
}

// Do calls op, and calls it again, concurrently, each time the latest
// attempt has run for the delay without an answer, up to MaxHedges times;
// the first attempt to succeed wins, the others are cancelled (their
// context's cause is [ErrLost]) and waited for, and Do returns nil.
//
// An attempt that fails with an error worth another attempt — not
// permanent (resilience.Permanent, a backoff.PermanentError), not a local
// rejection (resilience.IsLocalRejection: an open breaker, a full
// bulkhead), and not after ctx ended — starts the next hedge at once,
// without waiting for the delay, if one is left and the Budget allows it.
// When every attempt failed, Do returns the error of the last one to fail.
// A permanent error ends the call at once: the other attempts are
// cancelled, waited for, and Do returns that error. When ctx ends, no
// attempt starts any more, and Do returns once the running ones returned
// (with the last one's error, which is ctx's for an op that honours it).
//
// Do keeps the contract of resilience.Policy, but for the sequential calls
// of rule 1, which a ConcurrentPolicy is exempt from: it never returns
// before every call of op returned, and no goroutine of its own outlives
// it; op gets a context derived from ctx; a panic in any attempt, on any
// goroutine, cancels the others, waits for them, and goes on in the
// caller's goroutine with the same value. It runs one resilience.Race per
// call, so that resilience.Do and resilience.Transport hand the caller what
// the winning attempt produced, and the winner's context is released
// through resilience.DeferRelease.
//
// The first attempt runs on the caller's goroutine; a hedge started by the
// delay runs on a goroutine of its own (that of a time.AfterFunc), one
// started by a failure on the goroutine of the attempt that failed. When
// resilience.Repeatable(ctx)
// is false — resilience.Transport sends a request that may not be sent
// twice — or MaxHedges is resilience.None, Do calls op once, with ctx
// itself.
func (h *Hedge) Do(ctx context.Context, op func(context.Context) error) error {
	h.ncalls.Add(1)
	if h.maxHedges == 0 {
		return h.once(ctx, op)
	}
	if !resilience.Repeatable(ctx) {
		h.stats.notRepeatable.Add(1)
		return h.once(ctx, op)
	}
	return h.hedged(ctx, op)
}

// once is a call made with a single attempt.
func (h *Hedge) once(ctx context.Context, op func(context.Context) error) error {
	if !h.counts && !h.timed {
		return op(ctx)
	}
	if h.counts {
		h.budget.Request()
	}
	var start time.Time
	if h.timed {
		start = time.Now()
	}
	returned := false
	defer func() {
		if !returned && h.counts {
			h.budget.Failure()
		}
	}()
	err := op(ctx)
	returned = true
	if h.timed {
		now := time.Now()
		if err == nil && h.sketch != nil {
			h.sketch.record(now.Sub(start), now)
		}
		if h.observer != nil {
			h.observe(ctx, resilience.EventAttempt, 1, now.Sub(start), err)
			h.observe(ctx, resilience.EventDone, 1, now.Sub(start), err)
		}
	}
	h.count(ctx, err, false)
	return err
}

// observe hands the Observer an event of kind about attempt n (for
// EventDone, n attempts), by value.
func (h *Hedge) observe(ctx context.Context, kind resilience.EventKind, n int, d time.Duration, err error) {
	h.observer.Observe(ctx, resilience.Event{
		Kind: kind, Policy: "hedge", Name: h.name, Attempt: n, Duration: d, Err: err,
	})
}

// count tells the Budget, when the Hedge counts in it, how an attempt that
// returned err went; lost attempts (cancelled because another decided the
// call) say nothing.
func (h *Hedge) count(ctx context.Context, err error, lost bool) {
	if !h.counts {
		return
	}
	switch {
	case err == nil:
		h.budget.Success()
	case !lost && worthAnother(ctx, err):
		h.budget.Failure()
	}
}

// worthAnother reports whether an attempt that failed with err may succeed
// if made again: the failure is not permanent, not a local rejection, and
// ctx (the caller's) is live.
func worthAnother(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !permanent(err) && !resilience.IsLocalRejection(err)
}

// permanent reports whether err says that trying again cannot help, as
// package retry reads it.
func permanent(err error) bool {
	if resilience.IsPermanent(err) {
		return true
	}
	_, ok := errs.As[*backoff.PermanentError](err)
	return ok
}

package bulkhead

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
	"github.com/resiliencekit/resilience/internal/waits"
)

// Order is the order in which waiting calls receive the permits that
// finishing calls release.
type Order int

const (
	// FIFO serves the call that has waited longest first. It is the
	// default.
	FIFO Order = iota
	// LIFO serves the newest call first, and a call arriving at a full queue
	// pushes the oldest waiter out (it is refused with [ErrFull]). Under
	// sustained overload this serves the callers most likely to still be
	// waiting for the answer, instead of those that have probably given up.
	LIFO
	// AdaptiveLIFO serves in FIFO order while the bulkhead keeps up, and in
	// LIFO order once its queue has not been empty for [AdaptiveLIFOAfter]
	// (sustained overload), until it empties again: as Facebook's adaptive
	// LIFO, fair when there is a backlog now and then, and under overload
	// serving the callers still waiting rather than those that gave up.
	AdaptiveLIFO
)

// AdaptiveLIFOAfter is how long the queue of an [AdaptiveLIFO] bulkhead
// must stay non-empty before it serves the newest calls first: CoDel's
// interval.
const AdaptiveLIFOAfter = 100 * time.Millisecond

// String returns "FIFO", "LIFO" or "AdaptiveLIFO".
func (o Order) String() string {
	switch o {
	case FIFO:
		return "FIFO"
	case LIFO:
		return "LIFO"
	case AdaptiveLIFO:
		return "AdaptiveLIFO"
	}
	return fmt.Sprintf("Order(%d)", int(o))
}

// DefaultMaxQueue is how many calls may wait for a permit at once when
// Config.MaxWait lets calls wait and Config.MaxQueue is 0.
const DefaultMaxQueue = waits.DefaultMaxQueue

// Config holds the optional settings of a [Bulkhead]. Every zero field
// means its documented default, so the zero value is a fail-fast bulkhead
// with a fixed limit: a call that finds every permit taken is refused at
// once, and there are no hooks.
//
// MaxWait and MaxQueue follow the rule of every package of this module:
//
//	MaxWait: 0 (or resilience.None)       never wait: refuse at once
//	MaxWait: d                            wait up to d, never past the caller's deadline
//	MaxWait: resilience.Forever           wait as long as the caller's context allows
//	MaxQueue: 0                           with MaxWait set: up to DefaultMaxQueue waiting calls
//	MaxQueue: n                           up to n waiting calls; needs MaxWait
//
// [New] panics on MaxQueue set without MaxWait (calls that may queue but
// never wait: set MaxWait), on MaxQueue resilience.None with a MaxWait (a
// wait with no queue to wait in), and on negative values other than
// resilience.None. The rule and its messages are those of package
// ratelimit too.
type Config struct {
	// Name names the bulkhead for telemetry (logs, metrics, traces); see
	// [Bulkhead.Name]. Zero means "". In a [GroupConfig] it names the
	// group, and every key's bulkhead carries it.
	Name string

	// MaxWait is how long a call that finds every permit taken may wait
	// for one, in the queue. 0 (the default) never waits: such a call is
	// refused at once with [ErrFull]; resilience.None says the same. A
	// positive MaxWait lets it wait up to MaxWait, then refuses it with
	// [ErrFull]; a caller whose context ends first leaves the queue at
	// once with ctx.Err(). resilience.Forever waits as long as the
	// caller's context allows.
	MaxWait time.Duration

	// MaxQueue bounds how many calls may wait at once; a call that finds
	// the queue full is refused at once (in [LIFO] order, it takes the
	// place of the oldest waiter instead). 0 (the default) means
	// [DefaultMaxQueue]. It matters only with MaxWait: setting it without
	// MaxWait panics, and so does resilience.None (no queue) with one.
	MaxQueue int

	// Order is the order in which queued calls of one criticality get
	// permits: [FIFO] (the default), [LIFO] or [AdaptiveLIFO]. Across
	// criticalities (resilience.CriticalityFrom of the caller's context)
	// the more critical calls always come first: a queued Critical call
	// gets a permit before any queued call of the default criticality,
	// which gets one before any Sheddable call. When the queue is full, the
	// call that would be served last gives its place up to a newcomer that
	// would be served before it (a more critical one; in LIFO order, one of
	// the same criticality too), and is refused with [ErrFull]; otherwise
	// the newcomer is refused.
	Order Order

	// Reserve, when positive, keeps that many permits for the calls that
	// are not Sheddable (resilience.WithCriticality): Sheddable calls may
	// hold at most the limit in force less Reserve at once, and one that
	// finds them all taken is refused at once with [ErrFull] (it would be
	// served last anyway), even with permits free and with MaxWait. It is
	// how a bulkhead without a queue sheds sheddable calls first. It must
	// be below maxConcurrent; zero (the default) reserves nothing.
	Reserve int

	// Adaptive, when not nil, makes the limit adaptive: after each call the
	// bulkhead reports the call's latency and outcome to a [Limit] made by
	// Adaptive.NewLimit(maxConcurrent), and admits as many calls as that
	// limit says, between 1 and maxConcurrent. See [AIMD] and [Gradient].
	// nil (the default) keeps the limit fixed at maxConcurrent.
	Adaptive Algorithm

	// Dropped reports whether a failed call's error says that the
	// dependency is overloaded, which adaptive limits treat as a drop
	// (the strongest signal to lower the limit). It is called only with
	// an adaptive limit and a non-nil error. nil (the default) counts as
	// drops the errors matching context.DeadlineExceeded (such as the
	// expiry of a per-attempt time limit inside the bulkhead) and those
	// whose HTTP status (an HTTPStatus() int method, or a
	// *resilience.StatusError) is 429, 503 or 504.
	//
	// Failures that say nothing about the dependency are not reported to
	// the limit at all, before Dropped is asked: the ctx given to Do is
	// done by the caller's own doing when op returns (its deadline or
	// cancel, not a policy's time limit: resilience.CallerDone), op's
	// error matches context.Canceled, or it is a local rejection
	// (resilience.IsLocalRejection) by a policy inside the bulkhead.
	Dropped func(err error) bool

	// OnReject, when not nil, is called for every call the bulkhead
	// refuses, with the caller's context and the error returned to it (an
	// immutable value, possibly shared with other refused calls). It is
	// called without any lock held, on the refused caller's goroutine.
	OnReject func(ctx context.Context, err *FullError)

	// OnLimit, when not nil, is called when an adaptive limit changes, with
	// the context of the call whose outcome moved the limit (the ctx given
	// to Do), the old and the new limit. It is called without any lock
	// held, on that call's goroutine, after op returned; concurrent changes
	// may be reported out of order.
	OnLimit func(ctx context.Context, old, new int)

	// Observer, when not nil, receives the bulkhead's events: an
	// EventReject for every call it refuses (after OnReject), with a
	// Reason that tells why and, for a call that queued, the time it
	// waited as Duration; an EventWait for every call that queued and
	// then got a permit, with the time it waited; and an EventLimit when
	// an adaptive limit changes (after OnLimit), with the new limit as
	// Count. Each is reported with the context of the call it is about,
	// on that call's goroutine, with no lock held. Zero means no
	// observer: nothing is reported and nothing is paid. In a
	// [GroupConfig] its events carry the key of the bulkhead, and it also
	// gets the calls refused for TooManyKeys. See the package doc's
	// "# Events" section for the kinds and reasons.
	Observer resilience.Observer
}

// validate panics on an invalid configuration.
func (c *Config) validate(maxConcurrent int) {
	waits.Resolve("bulkhead", c.MaxWait, c.MaxQueue)
	if c.Order != FIFO && c.Order != LIFO && c.Order != AdaptiveLIFO {
		panic(fmt.Sprintf("bulkhead: unknown %v", c.Order))
	}
	if c.Reserve < 0 || c.Reserve >= maxConcurrent {
		panic(fmt.Sprintf("bulkhead: Reserve %d not in [0, maxConcurrent %d)", c.Reserve, maxConcurrent))
	}
	observe.Check("bulkhead", c.Observer)
}

// Metrics is a snapshot of a bulkhead's state, for dashboards and readiness
// checks. The fields are read one after the other, not atomically as a
// whole.
type Metrics struct {
	// InFlight is the number of calls holding a permit.
	InFlight int
	// Queued is the number of calls waiting for a permit.
	Queued int
	// Limit is the concurrency limit in force: maxConcurrent, or the
	// current value of an adaptive limit.
	Limit int
	// Rejected counts the calls refused with ErrFull since the bulkhead
	// was made.
	Rejected uint64
}

// Bulkhead limits how many calls run at once. Make one with [New]; the zero
// value is not usable. A Bulkhead is safe for concurrent use by many
// goroutines.
type Bulkhead struct {
	permits
	// waiting counts the queued calls, plus a call in the slow path of
	// acquire between announcing itself and queueing or leaving. A release
	// that sees it non-zero hands the permit over under mu.
	waiting atomic.Int64
	// limit is the limit in force; the shards hold its shares.
	limit atomic.Int64
	// shedding counts the Sheddable calls holding (or about to take) a
	// permit, when Config.Reserve is set.
	shedding atomic.Int64
	// evicted is set when a Group drops the bulkhead (its shards are then
	// sealed), and while it tries to.
	evicted atomic.Bool

	max      int
	reserve  int64         // permits Sheddable calls may not take (Config.Reserve)
	maxQueue int           // 0: no call waits
	maxWait  time.Duration // > 0 when maxQueue is; Forever: no timer
	order    Order
	adaptive Limit
	dropped  func(error) bool
	onReject func(context.Context, *FullError)
	onLimit  func(ctx context.Context, old, new int)
	name     string

	// full is the error of calls refused on arrival by a bulkhead with a
	// fixed limit, made once: it is immutable, and the limit never changes.
	full *FullError

	mu    sync.Mutex
	queue classQueue
	busy  time.Time // since when the queue has not been empty; zero when it is

	observer resilience.Observer
	key      string // the key of a Group's bulkhead, as held: Event.Key
}

// evictedMark is the value of inflight of the shards of an evicted
// bulkhead: no call can take a permit from them.
const evictedMark = 1 << 62

// New returns a bulkhead that admits up to maxConcurrent calls at once,
// configured by c (the zero Config is a fail-fast bulkhead with a fixed
// limit; see [Config] for the defaults). It panics if maxConcurrent is less
// than 1 or if c is invalid.
func New(maxConcurrent int, c Config) *Bulkhead {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("bulkhead: maxConcurrent %d is less than 1", maxConcurrent))
	}
	c.validate(maxConcurrent)
	return newBulkhead(maxConcurrent, &c, "")
}

// newBulkhead makes a bulkhead of a valid c; key is its key in a Group.
func newBulkhead(maxConcurrent int, c *Config, key string) *Bulkhead {
	wait, queue := waits.Resolve("bulkhead", c.MaxWait, c.MaxQueue)
	b := &Bulkhead{
		max:      maxConcurrent,
		reserve:  int64(c.Reserve),
		maxQueue: queue,
		maxWait:  wait,
		order:    c.Order,
		dropped:  c.Dropped,
		onReject: c.OnReject,
		onLimit:  c.OnLimit,
		observer: c.Observer,
		name:     c.Name,
		key:      key,
	}
	if b.dropped == nil {
		b.dropped = defaultDropped
	}
	limit := maxConcurrent
	if c.Adaptive != nil {
		b.adaptive = c.Adaptive.NewLimit(maxConcurrent)
		if b.adaptive == nil {
			panic("bulkhead: Adaptive.NewLimit returned nil")
		}
		limit = b.clamp(b.adaptive.Value())
	} else {
		b.full = &FullError{limit: maxConcurrent}
	}
	b.limit.Store(int64(limit))
	b.permits.init(maxConcurrent, limit)
	return b
}

// Do runs op once it holds a permit and returns op's error. When no permit
// is free it waits for one, up to Config.MaxWait, if the queue has room,
// and otherwise returns a [*FullError] (matching [ErrFull]) without calling
// op.
//
// Do keeps the contract of resilience.Policy: it calls op at most once, with
// ctx itself, and returns only after op returned. A caller whose ctx ends
// while it waits leaves the queue at once, freeing its place, and Do
// returns ctx.Err(). The permit is released when op returns or panics; a
// panic propagates unchanged.
func (b *Bulkhead) Do(ctx context.Context, op func(context.Context) error) error {
	if b.reserve > 0 {
		counted, err := b.shed(ctx)
		if err != nil {
			return err
		}
		if counted {
			defer b.shedding.Add(-1)
		}
	}
	return b.do(ctx, op)
}

// shed counts a Sheddable call against the permits such calls may hold,
// when Config.Reserve is set: it reports whether the call was counted (the
// caller takes it back with shedding.Add(-1) when it ends), or returns its
// refusal.
func (b *Bulkhead) shed(ctx context.Context) (counted bool, err error) {
	if b.reserve == 0 {
		return false, nil
	}
	if c, _ := resilience.CriticalityFrom(ctx); c > resilience.Sheddable {
		return false, nil
	}
	if b.shedding.Add(1) > b.limit.Load()-b.reserve {
		b.shedding.Add(-1)
		return false, b.refuse(ctx, &b.shards[0], reasonReserved)
	}
	return true, nil
}

func (b *Bulkhead) do(ctx context.Context, op func(context.Context) error) error {
	s, err := b.acquire(ctx)
	if err != nil {
		if err != errEvicted {
			return err
		}
		// A Group dropped this bulkhead, got with Group.Get: it goes on
		// apart from the group.
		b.revive()
		return b.do(ctx, op)
	}
	return b.run(ctx, op, s)
}

// run calls op under a permit of shard s taken by acquire.
func (b *Bulkhead) run(ctx context.Context, op func(context.Context) error, s *shard) error {
	if b.adaptive != nil {
		return b.runAdaptive(ctx, op, s)
	}
	defer b.release(s)
	return op(ctx)
}

func (b *Bulkhead) runAdaptive(ctx context.Context, op func(context.Context) error, s *shard) error {
	defer b.release(s) // also on panic, when the call is not sampled
	n := b.inFlight()
	start := time.Now()
	err := op(ctx)
	b.observe(ctx, start, n, err)
	return err
}

// acquire takes a permit and returns its shard. The fast path is one
// compare-and-swap on the shard of the current CPU; it steps aside for
// queued calls so that they keep their turn.
func (b *Bulkhead) acquire(ctx context.Context) (*shard, error) {
	if b.waiting.Load() == 0 {
		s, home := b.take()
		if s != nil {
			return s, nil
		}
		if b.maxQueue == 0 && !b.evicted.Load() {
			// No queue, hence no waiter to hand a permit to: no lock needed.
			return nil, b.refuse(ctx, home, reasonFull)
		}
	}
	return b.acquireSlow(ctx)
}

// acquireSlow takes a permit, queueing for it if need be.
//
// No wakeup is lost: a call announces itself in waiting before its last
// try for a permit (both under mu), and release gives its permit back before
// it reads waiting. Either the release sees the announcement, and hands the
// permit over under mu once the call is queued, or it does not, and then
// the call's last try sees the permit free.
func (b *Bulkhead) acquireSlow(ctx context.Context) (*shard, error) {
	b.mu.Lock()
	if b.evicted.Load() {
		b.mu.Unlock()
		return nil, errEvicted
	}
	b.waiting.Add(1)
	if s := b.takeAny(nil); s != nil {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return s, nil
	}
	crit, _ := resilience.CriticalityFrom(ctx)
	class := classOf(crit)
	now := time.Now()
	lifo := b.lifoLocked(now)
	var victim *waiter
	if b.queue.len >= b.maxQueue {
		// Full: the call that would be served last gives its place up
		// to this one if this one would be served before it (a higher
		// criticality; in LIFO order, the same one too).
		if b.maxQueue > 0 {
			victim = b.queue.last(lifo)
		}
		if victim == nil || class < victim.class || class == victim.class && !lifo {
			b.waiting.Add(-1)
			b.mu.Unlock()
			return nil, b.refuse(ctx, &b.shards[0], reasonFull)
		}
	}
	if err := ctx.Err(); err != nil {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil, err
	}
	if victim != nil {
		b.queue.remove(victim)
		victim.state = refused
		b.waiting.Add(-1)
		victim.ready <- struct{}{}
	}
	w := &waiter{ready: make(chan struct{}, 1), since: now, class: class}
	if b.busy.IsZero() { // (a victim's place taken keeps the queue busy)
		b.busy = now
	}
	b.queue.push(w)
	b.mu.Unlock()
	return b.wait(ctx, w)
}

// wait blocks until w is handed a permit, refused, timed out or its caller
// gives up.
func (b *Bulkhead) wait(ctx context.Context, w *waiter) (*shard, error) {
	var expired <-chan time.Time
	if b.maxWait != resilience.Forever {
		t := time.NewTimer(b.maxWait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ready:
		return b.woken(ctx, w)
	case <-ctx.Done():
		b.mu.Lock()
		state := w.state
		if state == queued {
			b.removeLocked(w)
			b.waiting.Add(-1)
		}
		b.mu.Unlock()
		if state == granted {
			// The permit arrived as the caller gave up: pass it on.
			b.release(w.s)
		}
		return nil, ctx.Err()
	case <-expired:
		b.mu.Lock()
		if w.state == queued {
			b.removeLocked(w)
			b.waiting.Add(-1)
			w.state = timedOut
		}
		b.mu.Unlock()
		// A permit that arrived as MaxWait expired is used: the caller
		// still wants it.
		return b.woken(ctx, w)
	}
}

// The Event.Reason words of the refusals (see the package doc, Events).
const (
	reasonFull        = "full"          // on arrival: no permit, no room to wait
	reasonReserved    = "reserved"      // a Sheddable call, the rest kept by Config.Reserve
	reasonTimeout     = "timeout"       // queued, MaxWait passed
	reasonShed        = "shed"          // queued, pushed out by a call to be served before it
	reasonTooManyKeys = "too_many_keys" // a Group full of busy bulkheads
)

// woken returns the outcome of a waiter that left the queued state.
func (b *Bulkhead) woken(ctx context.Context, w *waiter) (*shard, error) {
	if w.state == granted {
		if b.observer != nil {
			b.observer.Observe(ctx, resilience.Event{
				Kind: resilience.EventWait, Policy: "bulkhead", Name: b.name, Key: b.key,
				Duration: time.Since(w.since),
			})
		}
		return w.s, nil
	}
	reason := reasonShed
	if w.state == timedOut {
		reason = reasonTimeout
	}
	err := &FullError{limit: int(b.limit.Load()), waited: time.Since(w.since)}
	return nil, b.reject(ctx, err, &b.shards[0], reason)
}

// refuse refuses a call on arrival for reason, counting it on shard s.
func (b *Bulkhead) refuse(ctx context.Context, s *shard, reason string) error {
	err := b.full
	if err == nil {
		err = &FullError{limit: int(b.limit.Load())}
	}
	return b.reject(ctx, err, s, reason)
}

// reject counts a refusal on shard s, reports it to the hook and the
// Observer and returns its error. No lock is held.
func (b *Bulkhead) reject(ctx context.Context, err *FullError, s *shard, reason string) error {
	s.rejected.Add(1)
	if b.onReject != nil {
		b.onReject(ctx, err)
	}
	if b.observer != nil {
		b.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventReject, Policy: "bulkhead", Name: b.name, Key: b.key,
			Reason: reason, Err: err, Duration: err.waited,
		})
	}
	return err
}

// release gives back a permit of shard s and, when calls are queued, hands
// permits to them.
func (b *Bulkhead) release(s *shard) {
	s.inflight.Add(-1)
	if b.waiting.Load() != 0 {
		b.mu.Lock()
		b.dispatch()
		b.mu.Unlock()
	}
}

// dispatch hands free permits to queued calls, in queue order. b.mu must be
// held.
func (b *Bulkhead) dispatch() {
	for b.queue.len > 0 {
		s := b.takeAny(nil)
		if s == nil {
			return
		}
		w := b.queue.first(b.lifoLocked(time.Time{}))
		b.removeLocked(w)
		w.state, w.s = granted, s
		b.waiting.Add(-1)
		w.ready <- struct{}{}
	}
}

// lifoLocked reports whether the queue serves the newest call first now
// (zero: read the clock if it matters). b.mu must be held.
func (b *Bulkhead) lifoLocked(now time.Time) bool {
	switch b.order {
	case LIFO:
		return true
	case AdaptiveLIFO:
		if b.busy.IsZero() {
			return false
		}
		if now.IsZero() {
			now = time.Now()
		}
		return now.Sub(b.busy) >= AdaptiveLIFOAfter
	}
	return false
}

// removeLocked takes w out of the queue. b.mu must be held.
func (b *Bulkhead) removeLocked(w *waiter) {
	b.queue.remove(w)
	if b.queue.len == 0 {
		b.busy = time.Time{}
	}
}

// observe reports a finished call to the adaptive limit and applies the
// limit it returns. Failures that say nothing about the dependency are not
// reported, before Config.Dropped is asked: the caller's context is done
// by the caller's own doing (its deadline or cancel, not a policy's time
// limit), the call was cancelled, or a policy of this process refused it
// before it reached the dependency.
func (b *Bulkhead) observe(ctx context.Context, start time.Time, n int, err error) {
	dropped := false
	if err != nil {
		if resilience.CallerDone(ctx) || errors.Is(err, context.Canceled) || resilience.IsLocalRejection(err) {
			return
		}
		dropped = b.dropped(err)
	}
	next := int64(b.clamp(b.adaptive.Observe(Sample{
		Start:    start,
		Latency:  time.Since(start),
		InFlight: n,
		Dropped:  dropped,
	})))
	old := b.limit.Swap(next)
	if next == old {
		return
	}
	b.setLimit(int(next))
	if next > old && b.waiting.Load() != 0 {
		b.mu.Lock()
		b.dispatch()
		b.mu.Unlock()
	}
	if b.onLimit != nil {
		b.onLimit(ctx, int(old), int(next))
	}
	if b.observer != nil {
		b.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventLimit, Policy: "bulkhead", Name: b.name, Key: b.key,
			Count: int(next),
		})
	}
}

// clamp bounds a limit to [1, max].
func (b *Bulkhead) clamp(l int) int {
	return max(1, min(l, b.max))
}

// Name returns Config.Name: for a bulkhead of a [Group], the group's.
func (b *Bulkhead) Name() string { return b.name }

// Metrics returns a snapshot of the bulkhead's counters.
func (b *Bulkhead) Metrics() Metrics {
	b.mu.Lock()
	queued := b.queue.len
	b.mu.Unlock()
	return Metrics{
		InFlight: b.inFlight(),
		Queued:   queued,
		Limit:    int(b.limit.Load()),
		Rejected: b.permits.rejected(),
	}
}

// Saturated reports whether a call arriving now would find no permit free
// and no room in the queue (in [LIFO] order, it would push out the oldest
// waiter). A readiness endpoint can report it, so that whoever supervises
// the process sends traffic elsewhere. It takes no lock.
func (b *Bulkhead) Saturated() bool {
	return b.evicted.Load() ||
		int64(b.inFlight()) >= b.limit.Load() && b.waiting.Load() >= int64(b.maxQueue)
}

// defaultDropped is the default of Config.Dropped.
func defaultDropped(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) && overloadStatus(hs.HTTPStatus()) {
		return true
	}
	var se *resilience.StatusError
	return errors.As(err, &se) && overloadStatus(se.Code)
}

func overloadStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable ||
		code == http.StatusGatewayTimeout
}

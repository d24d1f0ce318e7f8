package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
	"github.com/resiliencekit/resilience/ratelimit/internal/rules"
)

// ThrottleConfig holds the optional settings of a [Throttle]. The zero
// value is the default: K = 2 over a two-minute window.
type ThrottleConfig struct {
	// K is how many requests the client sends per request the backend
	// accepts before it starts dropping requests itself; 0 means 2. Lower
	// is more aggressive (1.1 drops nearly everything the backend would
	// reject), higher wastes more backend work on rejections but reacts
	// less to noise. Values below 1, NaN and +Inf panic.
	K float64

	// Window is how far back requests and accepts are counted; 0 means two
	// minutes. It is kept as Buckets slots that expire one at a time.
	// Negative values panic.
	Window time.Duration

	// Buckets is how many slots Window is split into; 0 means 20.
	// Negative values panic, as does a Window too short for its Buckets.
	Buckets int

	// Rejected reports whether an error of the operation means the backend
	// rejected the request for lack of capacity. nil means the default:
	// an answer 429 or 503 (a *resilience.StatusError, or any error with
	// HTTPStatus() 429 or 503, which includes rejections by limiters,
	// bulkheads and breakers of this library). Other errors, such as 404 or
	// a validation failure, mean the backend accepted the request.
	Rejected func(err error) bool

	// OnThrottled, if not nil, is called for each request the throttle
	// drops, with the call's context and the probability it used, with no
	// lock held. It must be safe for concurrent use.
	OnThrottled func(ctx context.Context, probability float64)

	// Name names the throttle for telemetry (see [Throttle.Name]); "" by
	// default.
	Name string

	// Observer, when not nil, receives an EventReject of Reason
	// "throttled" for each call the throttle drops (after OnThrottled),
	// with the *LimitedError returned as Err, the call's context, on its
	// goroutine and with no lock held. Zero means no observer: nothing is
	// reported and nothing is paid. See the package doc's "# Events"
	// section.
	Observer resilience.Observer
}

// Throttle is client-side adaptive throttling as described in Google's
// "Site Reliability Engineering" book (chapter "Handling Overload"): when a
// backend rejects most requests, the client stops sending what would be
// rejected anyway, at no cost to the backend. Over the recent window it
// counts requests (every call of Do, including those it dropped) and
// accepts (calls the backend did not reject), and drops a new call with
// probability
//
//	max(0, (requests − K×accepts) / (requests + 1))
//
// with a [*LimitedError] of ReasonThrottled, which matches [ErrLimited]
// and [ErrThrottled] and is a local rejection (resilience.IsLocalRejection),
// so a retry around the throttle gives up at once. While the backend
// accepts everything, nothing is dropped; when it recovers, the drop rate
// falls as accepts come back.
//
// Throttle is a resilience.Policy, safe for concurrent use; its Do
// allocates nothing when it lets a call through. Put it inside a retry
// policy so retries are throttled too. Make it with [NewThrottle]; the zero
// value is not usable. One Throttle serves one backend: use one per
// downstream.
type Throttle struct {
	k           float64
	slot        time.Duration
	rejected    func(error) bool
	onThrottled func(context.Context, float64)
	rand        func() float64
	epoch       time.Time
	name        string
	throttled   atomic.Uint64 // calls dropped
	refusals    lastRefusal   // the last drop, handed out again for the same key

	mu    sync.Mutex
	slots []throttleSlot
	total throttleSlot // sums of the live slots
	calls uint64       // calls of Do since the throttle was made

	observer resilience.Observer // off the paths of the calls it lets through
}

type throttleSlot struct {
	index             int64 // which slot of time (elapsed / slot) it counts
	requests, accepts float64
}

// NewThrottle returns a Throttle; the zero fields of the ThrottleConfig
// are defaults. It panics if the configuration is invalid.
func NewThrottle(c ThrottleConfig) *Throttle {
	if c.K == 0 {
		c.K = 2
	}
	if c.Window == 0 {
		c.Window = 2 * time.Minute
	}
	if c.Buckets == 0 {
		c.Buckets = 20
	}
	if !(c.K >= 1) || math.IsInf(c.K, 1) || c.Window < 0 || c.Buckets < 0 {
		panic(fmt.Sprintf("ratelimit: invalid ThrottleConfig: K %v (need >= 1), Window %v, Buckets %d", c.K, c.Window, c.Buckets))
	}
	slot := c.Window / time.Duration(c.Buckets)
	if slot <= 0 {
		panic(fmt.Sprintf("ratelimit: invalid ThrottleConfig: Window %v too short for %d buckets", c.Window, c.Buckets))
	}
	if c.Rejected == nil {
		c.Rejected = overloaded
	}
	observe.Check("ratelimit", c.Observer)
	a := &Throttle{
		k:           c.K,
		slot:        slot,
		rejected:    c.Rejected,
		onThrottled: c.OnThrottled,
		observer:    c.Observer,
		rand:        rand.Float64,
		epoch:       time.Now(),
		name:        c.Name,
		slots:       make([]throttleSlot, c.Buckets),
	}
	for i := range a.slots {
		a.slots[i].index = -1
	}
	return a
}

// overloaded is the default ThrottleConfig.Rejected.
func overloaded(err error) bool {
	var se *resilience.StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable
	}
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		c := hs.HTTPStatus()
		return c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable
	}
	return false
}

// Do runs op unless the throttle drops the call, and records whether the
// backend accepted it. A dropped call returns a [*LimitedError] at once.
// Do keeps the resilience.Policy contract; a panic in op counts as a
// request not accepted and propagates.
func (a *Throttle) Do(ctx context.Context, op func(context.Context) error) error {
	now := time.Since(a.epoch)
	a.mu.Lock()
	cur := a.advance(now)
	p := (a.total.requests - a.k*a.total.accepts) / (a.total.requests + 1)
	cur.requests++
	a.total.requests++
	a.calls++
	a.mu.Unlock()
	if p > 0 && a.rand() < p {
		a.throttled.Add(1)
		if a.onThrottled != nil {
			a.onThrottled(ctx, p)
		}
		e := a.refusals.get(resilience.KeyFrom(ctx), ReasonThrottled, time.Time{})
		if a.observer != nil {
			a.observer.Observe(ctx, resilience.Event{
				Kind: resilience.EventReject, Policy: "ratelimit", Name: a.name,
				Reason: rules.EventReason(uint8(ReasonThrottled)), Err: e,
			})
		}
		return e
	}
	err := op(ctx)
	if err == nil || !a.rejected(err) {
		a.mu.Lock()
		a.advance(time.Since(a.epoch)).accepts++
		a.total.accepts++
		a.mu.Unlock()
	}
	return err
}

// Probability returns the probability with which the next call would be
// dropped.
func (a *Throttle) Probability() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advance(time.Since(a.epoch))
	return max(0, (a.total.requests-a.k*a.total.accepts)/(a.total.requests+1))
}

// Name returns [ThrottleConfig.Name].
func (a *Throttle) Name() string { return a.name }

// Metrics returns the throttle's counters and state: the calls let
// through (Admitted) and dropped (Refused[ReasonThrottled]) since it was made,
// and the requests, accepts and drop probability of its window (see
// [Metrics]).
func (a *Throttle) Metrics() Metrics {
	a.mu.Lock()
	a.advance(time.Since(a.epoch))
	m := Metrics{
		Requests:    int(a.total.requests),
		Accepts:     int(a.total.accepts),
		Probability: max(0, (a.total.requests-a.k*a.total.accepts)/(a.total.requests+1)),
	}
	calls := a.calls
	a.mu.Unlock()
	m.Refused[ReasonThrottled] = a.throttled.Load()
	m.Admitted = calls - min(calls, m.Refused[ReasonThrottled])
	return m
}

// Counts returns the requests and accepts counted over the window.
func (a *Throttle) Counts() (requests, accepts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advance(time.Since(a.epoch))
	return int(a.total.requests), int(a.total.accepts)
}

// advance expires the slots that fell out of the window and returns the
// current one. a.mu is held.
func (a *Throttle) advance(now time.Duration) *throttleSlot {
	idx := int64(now / a.slot)
	s := &a.slots[idx%int64(len(a.slots))]
	if s.index == idx {
		return s
	}
	oldest := idx - int64(len(a.slots)) // slots at or before this are out
	for i := range a.slots {
		o := &a.slots[i]
		if o.index >= 0 && o.index <= oldest {
			a.total.requests -= o.requests
			a.total.accepts -= o.accepts
			*o = throttleSlot{index: -1}
		}
	}
	if s.index != -1 { // a slot of an earlier lap still counted here
		a.total.requests -= s.requests
		a.total.accepts -= s.accepts
	}
	*s = throttleSlot{index: idx}
	if a.total.requests < 0.5 { // float drift after many subtractions
		a.total = throttleSlot{}
	}
	return s
}

package retry

import (
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// Defaults for the zero fields of [RatioConfig], the values of Finagle's
// retry budget.
const (
	DefaultRatio        = 0.2
	DefaultMinPerSecond = 10
	DefaultWindow       = 10 * time.Second
)

// ratioSlots is how many slots the sliding window of a RatioBudget has.
const ratioSlots = 10

// RatioConfig configures a [RatioBudget]. Zero fields mean the documented
// defaults (those of Finagle's RetryBudget); resilience.None says "none"
// for Ratio and MinPerSecond.
type RatioConfig struct {
	// Ratio is the share of requests that may be retried: 0.2 allows one
	// retry for every five calls. It may exceed 1 (up to 100). Zero means
	// DefaultRatio (0.2); resilience.None means none (only the retries of
	// MinPerSecond are allowed).
	Ratio float64
	// MinPerSecond is how many retries per second are allowed whatever the
	// number of requests, so that a service with little traffic can still
	// retry. Zero means DefaultMinPerSecond (10); resilience.None means
	// none. Other negative values panic.
	MinPerSecond float64
	// Window is how far back requests and retries are counted. Zero means
	// DefaultWindow (10 s); it must be at least 10 ms.
	Window time.Duration
}

// RatioBudget is Finagle's retry budget: within a sliding window, retries
// may number at most Ratio times the calls plus MinPerSecond times the
// window in seconds. With the defaults, a service sending 100 calls per
// second may retry 20 of them per second plus 10, so retries add at most
// 30 % to its load, in an outage or not.
//
// The window is kept in ten slots, so it slides in steps of a tenth of its
// length. Request reads the clock, so each call that uses the budget does,
// even one that succeeds at once. The budget is lock-free (atomic counters) and safe for concurrent
// use; under heavy concurrency it errs towards refusing a retry, never
// towards allowing too many. The zero value is not usable: create it with
// [NewRatioBudget].
type RatioBudget struct {
	origin   time.Time // monotonic clock reading the slots count from
	slot     time.Duration
	ratio    float64
	reserve  float64 // retries always allowed per window
	requests [ratioSlots]atomic.Uint64
	retries  [ratioSlots]atomic.Uint64
}

// NewRatioBudget returns an empty RatioBudget. It panics with a
// "retry: ..." message on a Ratio or MinPerSecond that is negative (other
// than resilience.None) or NaN, a Ratio above 100, or a Window shorter
// than 10 ms.
func NewRatioBudget(c RatioConfig) *RatioBudget {
	switch {
	case c.Ratio != resilience.None && !(c.Ratio >= 0 && c.Ratio <= 100):
		panic("retry: RatioConfig.Ratio must be in [0, 100] (resilience.None: none)")
	case c.MinPerSecond != resilience.None && !(c.MinPerSecond >= 0):
		panic("retry: RatioConfig.MinPerSecond must not be negative (resilience.None: none)")
	case c.Window < 0 || c.Window > 0 && c.Window < 10*time.Millisecond:
		panic("retry: RatioConfig.Window must be at least 10ms")
	}
	c.Ratio = orDefault(c.Ratio, DefaultRatio)
	c.MinPerSecond = orDefault(c.MinPerSecond, DefaultMinPerSecond)
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return &RatioBudget{
		origin:  time.Now(),
		slot:    c.Window / ratioSlots,
		ratio:   c.Ratio,
		reserve: c.MinPerSecond * c.Window.Seconds(),
	}
}

// A slot counter packs the number of its slot period (the epoch, modulo
// 2^32) in the high half and a count in the low half, so that one atomic
// word says both what it counts and for which period.

func (b *RatioBudget) epoch() uint32 {
	return uint32(time.Since(b.origin) / b.slot)
}

// add adds one to the counter of the current slot, starting it afresh when
// it still holds an older period.
func add(c *[ratioSlots]atomic.Uint64, epoch uint32) {
	w := &c[epoch%ratioSlots]
	for {
		v := w.Load()
		n := uint64(epoch)<<32 | 1
		if uint32(v>>32) == epoch {
			n = v + 1
		}
		if w.CompareAndSwap(v, n) {
			return
		}
	}
}

// undo takes back one count added to the slot of epoch, unless the slot has
// moved on since.
func undo(c *[ratioSlots]atomic.Uint64, epoch uint32) {
	w := &c[epoch%ratioSlots]
	for {
		v := w.Load()
		if uint32(v>>32) != epoch || uint32(v) == 0 {
			return
		}
		if w.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// sum counts what the slots hold for the window ending with epoch.
func sum(c *[ratioSlots]atomic.Uint64, epoch uint32) uint64 {
	var n uint64
	for i := range c {
		v := c[i].Load()
		if epoch-uint32(v>>32) < ratioSlots { // modular: works across wrap
			n += uint64(uint32(v))
		}
	}
	return n
}

// Request counts a call.
func (b *RatioBudget) Request() { add(&b.requests, b.epoch()) }

// Success does nothing: a ratio budget counts calls and retries.
func (b *RatioBudget) Success() {}

// Failure does nothing: a ratio budget counts calls and retries.
func (b *RatioBudget) Failure() {}

// Withdraw reports whether a retry fits in the window, and counts it when it
// does. It counts first and takes the count back when the retry does not
// fit, so concurrent callers cannot together overrun the budget.
func (b *RatioBudget) Withdraw() bool {
	e := b.epoch()
	add(&b.retries, e)
	allowed := b.ratio*float64(sum(&b.requests, e)) + b.reserve
	if float64(sum(&b.retries, e)) <= allowed {
		return true
	}
	undo(&b.retries, e)
	return false
}

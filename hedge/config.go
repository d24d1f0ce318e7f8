package hedge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
	"github.com/resiliencekit/resilience/retry"
)

// Defaults for the zero fields of [Config], and the bounds New enforces.
const (
	// DefaultMaxHedges is how many hedges a call may start when
	// Config.MaxHedges is 0: one, so that a call makes at most two
	// attempts.
	DefaultMaxHedges = 1
	// MaxHedgesLimit is the largest Config.MaxHedges: eleven attempts of one
	// call at once multiply the load on a dependency, they do not cut a
	// tail.
	MaxHedgesLimit = 10

	// DefaultQuantile is the quantile of latency the adaptive delay
	// follows when Config.Quantile is 0: a call slower than 95 % of the
	// recent ones is hedged.
	DefaultQuantile = 0.95
	// DefaultMinDelay is the shortest adaptive delay when Config.MinDelay
	// is 0.
	DefaultMinDelay = time.Millisecond
	// DefaultMaxDelay is the longest adaptive delay when Config.MaxDelay is
	// 0. It is also the delay until MinSamples latencies are known.
	DefaultMaxDelay = time.Second
	// DefaultWindow is how long the adaptive delay remembers a latency
	// when Config.Window is 0: between one and two windows.
	DefaultWindow = time.Minute

	// MinSamples is how many latencies of successful attempts the adaptive
	// delay needs (within its window) before it follows them; until then
	// the delay is MaxDelay.
	MinSamples = 20
)

const minSamples = MinSamples

// ErrLost is the cause (see context.Cause) of the context of an attempt
// that was still running when another attempt decided the call: one that
// succeeded, failed with a permanent error, or panicked. The attempt's
// context is cancelled with it, so that op stops working for a result
// nobody will use; what op returns then is discarded.
var ErrLost = errors.New("hedge: another attempt decided the call")

// Config holds the optional settings of a [Hedge]. Every zero field means
// its documented default: the zero Config hedges each call once, after the
// adaptive delay (the 95th percentile of recent latency, between 1 ms and
// 1 s), with no budget and no hook.
//
// [New] panics with a "hedge: ..." message on a negative count or duration
// (other than resilience.None for MaxHedges), a MaxHedges above
// MaxHedgesLimit, a Quantile outside (0, 1), a MinDelay above the MaxDelay
// (defaults included), a setting of the adaptive delay (Quantile, MinDelay,
// MaxDelay, Window) together with a fixed Delay, a typed nil Budget or
// Observer, and BudgetCountedByRetry without a Budget.
type Config struct {
	// Name names the Hedge for telemetry (logs, metrics labels):
	// Hedge.Name returns it. Zero means "".
	Name string

	// MaxHedges is how many attempts a call may start after its first, so
	// that it makes at most 1+MaxHedges attempts. Zero means
	// DefaultMaxHedges (1); resilience.None means no hedge at all (Do
	// calls op once, as a plain call); it is at most MaxHedgesLimit.
	MaxHedges int

	// Delay, when positive, is how long an attempt may run before the next
	// one starts: a fixed delay. Zero means the adaptive delay: the
	// Quantile of the latency of recent successful attempts, measured by
	// the Hedge itself, within [MinDelay, MaxDelay].
	Delay time.Duration

	// Quantile is the quantile of recent latency the adaptive delay
	// follows, in (0, 1). Zero means DefaultQuantile (0.95).
	Quantile float64
	// MinDelay is the shortest adaptive delay. Zero means DefaultMinDelay
	// (1 ms).
	MinDelay time.Duration
	// MaxDelay is the longest adaptive delay, and the delay until the
	// Hedge has seen MinSamples successful attempts in its window. Zero
	// means DefaultMaxDelay (1 s).
	MaxDelay time.Duration
	// Window is how long a latency counts for the adaptive delay: the
	// delay follows the attempts of the last one to two windows. Zero
	// means DefaultWindow (1 min).
	Window time.Duration

	// Budget, when not nil, limits hedges across calls: each hedge asks
	// Budget.Withdraw before it starts, and is not made when it refuses
	// (Metrics.BudgetRefusals counts those). Share one Budget with the
	// retry.Retry of the same dependency, so that retries and hedges
	// together stay within it; see BudgetCountedByRetry, and "Budgets" in
	// the package documentation.
	//
	// Unless BudgetCountedByRetry is set, the Hedge also counts its calls
	// and attempts in the Budget as a Retry does: Request once per call,
	// Success for each attempt that succeeded, Failure for each attempt
	// that failed with an error worth another attempt (or panicked). Its
	// methods are called with no lock held, on the goroutines of the
	// call's attempts and timer; a Withdraw that blocks holds up the call.
	Budget retry.Budget

	// BudgetCountedByRetry says that Budget is also the Budget of a
	// retry.Retry placed outside this Hedge (resilience.Chain(retry,
	// hedge, ...)), which counts every call (Request) and the outcome of
	// each of its attempts (Success, Failure): the Hedge then only asks
	// Withdraw before each hedge, so that no call is counted twice. It
	// requires a Budget.
	BudgetCountedByRetry bool

	// OnHedge, when not nil, is called for each hedge just before it
	// calls op, with the caller's context, the hedge's number n (1 for
	// the first hedge of the call, up to MaxHedges) and err: nil when the
	// delay passed, or the error of the attempt whose failure started this
	// hedge at once. It is called on the goroutine that runs the hedge (a
	// goroutine of the Hedge for a delay, the goroutine of the failed
	// attempt for a failure, which may be the caller's), with no lock
	// held; the other attempts of the call run meanwhile.
	OnHedge func(ctx context.Context, n int, err error)

	// Observer, when not nil, is told what the Hedge does, one
	// resilience.Event each, with Policy "hedge" and Name: the end of each
	// attempt (EventAttempt), each hedge about to start (EventHedge) and
	// the end of each call (EventDone); see "Events" in the package
	// documentation. It is called with no lock held, on the goroutine
	// that did the thing: an attempt's EventAttempt on the goroutine that
	// ran it (the caller's or one of the Hedge's), an EventHedge where
	// OnHedge is called (just after it), EventDone on the caller's. It
	// must be safe for concurrent use: the attempts of one call report
	// from several goroutines at once. Zero means no observer: nothing is
	// reported and nothing is paid.
	Observer resilience.Observer
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() Config {
	switch {
	case c.MaxHedges == resilience.None:
		c.MaxHedges = 0
	case c.MaxHedges < 0:
		panic(fmt.Sprintf("hedge: negative MaxHedges %d (resilience.None: no hedge)", c.MaxHedges))
	case c.MaxHedges == 0:
		c.MaxHedges = DefaultMaxHedges
	case c.MaxHedges > MaxHedgesLimit:
		panic(fmt.Sprintf("hedge: MaxHedges %d above MaxHedgesLimit (%d)", c.MaxHedges, MaxHedgesLimit))
	}
	if c.Delay < 0 {
		panic(fmt.Sprintf("hedge: negative Delay %v", c.Delay))
	}
	if c.Delay > 0 && (c.Quantile != 0 || c.MinDelay != 0 || c.MaxDelay != 0 || c.Window != 0) {
		panic("hedge: Quantile, MinDelay, MaxDelay and Window shape the adaptive delay, which a fixed Delay replaces")
	}
	switch {
	case c.Quantile == 0:
		c.Quantile = DefaultQuantile
	case math.IsNaN(c.Quantile) || c.Quantile <= 0 || c.Quantile >= 1:
		panic(fmt.Sprintf("hedge: Quantile %v not in (0, 1)", c.Quantile))
	}
	c.MinDelay = durationOr("MinDelay", c.MinDelay, DefaultMinDelay)
	c.MaxDelay = durationOr("MaxDelay", c.MaxDelay, DefaultMaxDelay)
	c.Window = durationOr("Window", c.Window, DefaultWindow)
	if c.MinDelay > c.MaxDelay {
		panic(fmt.Sprintf("hedge: MinDelay %v above MaxDelay %v (zero means the defaults: %v and %v)",
			c.MinDelay, c.MaxDelay, DefaultMinDelay, DefaultMaxDelay))
	}
	if c.Budget != nil && isNil(c.Budget) {
		panic(fmt.Sprintf("hedge: Budget is a nil %T", c.Budget))
	}
	if c.BudgetCountedByRetry && c.Budget == nil {
		panic("hedge: BudgetCountedByRetry without a Budget")
	}
	observe.Check("hedge", c.Observer)
	return c
}

func durationOr(name string, d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		panic(fmt.Sprintf("hedge: negative %s %v", name, d))
	case d == 0:
		return def
	}
	return d
}

// isNil reports whether v is a typed nil.
func isNil(v any) bool {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

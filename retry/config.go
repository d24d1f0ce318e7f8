package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxRetries   = 3
	DefaultInitialDelay = 100 * time.Millisecond
	DefaultMultiplier   = 2.0
	DefaultMaxDelay     = 10 * time.Second
	DefaultJitterFactor = 0.5

	// DefaultRetryAfterJitter is the spread of a wait that comes from a
	// Retry-After: 20 callers told to come back in 1 s come back at random
	// instants over 200 ms (10 ms apart on average) instead of all at
	// t = 1.000 s, where one would be the probe of a half-open breaker
	// and 19 be turned away. A fifth keeps every caller within 20 % of
	// what the server asked (never earlier), and spreads a herd told ra
	// over 0.2·ra: a few hundred callers told 1 s arrive one or two per
	// millisecond rather than in one instant.
	DefaultRetryAfterJitter = 0.2
)

// Jitter is how a [Retry] spreads each delay at random, so that callers that
// failed at the same moment do not retry at the same moment. Let d be the
// delay from the backoff, capped by Config.MaxDelay, and u a random number in
// [0, 1). The zero value is [JitterFull].
type Jitter uint8

const (
	// JitterFull waits u·d: anywhere from 0 to d. It spreads retries the
	// most and is the default (the "full jitter" of AWS's study of backoff).
	JitterFull Jitter = iota
	// JitterNone waits exactly d.
	JitterNone
	// JitterEqual waits d/2 + u·d/2: at least half of d.
	JitterEqual
	// JitterDecorrelated draws each delay uniformly in [d, hi), where
	// hi = min(3·p, MaxDelay) and p is the previous delay of the same call
	// (d itself before the first retry); when hi ≤ d the delay is d. So:
	// delay = d + u·(min(3·p, MaxDelay) − d).
	//
	// With a constant backoff (Multiplier 1, or a constant Config.Backoff)
	// d is the "base" of AWS's "decorrelated jitter", and below the cap
	// the two agree. Near the cap they differ: AWS computes
	// min(cap, random_between(base, 3·p)), a draw clamped afterwards, so
	// every draw above the cap becomes exactly the cap: with p at the cap,
	// about two thirds of its delays are the cap itself. Once 3·p passes
	// MaxDelay this draws uniformly in [d, MaxDelay) instead, so no delay
	// is exactly MaxDelay unless d is, and the delays near the cap are
	// spread. With u = 0.5, base 100 ms and cap 400 ms, AWS waits 200, 350,
	// 400, 400 ms…, this waits 200, 250, 250, 250 ms…. With the default
	// exponential backoff d grows too, so the lower bound rises, and once
	// d reaches MaxDelay every delay is exactly MaxDelay (no spread is
	// left): use a constant backoff with this jitter.
	JitterDecorrelated
	// JitterProportional multiplies d by a random factor in
	// [1-JitterFactor, 1+JitterFactor), capped by MaxDelay, as the
	// RandomizationFactor of backoff.ExponentialBackOff does.
	JitterProportional

	jitterKinds // number of kinds, for validation
)

// String returns the name of the jitter kind, such as "full".
func (j Jitter) String() string {
	switch j {
	case JitterFull:
		return "full"
	case JitterNone:
		return "none"
	case JitterEqual:
		return "equal"
	case JitterDecorrelated:
		return "decorrelated"
	case JitterProportional:
		return "proportional"
	}
	return fmt.Sprintf("Jitter(%d)", uint8(j))
}

// Config configures a [Retry]. Every zero field means its documented
// default, so Config{} retries 3 times with full-jitter exponential backoff
// from 100 ms capped at 10 s, honours a server's Retry-After with a 20 %
// spread, and ends at once on a local rejection. Where a default is not
// "none", resilience.None says none: MaxRetries: resilience.None makes no
// retry, InitialDelay: resilience.None retries at once.
//
// [New] panics with a "retry: ..." message on values that make no sense:
// negative counts, durations or factors other than resilience.None, a
// Multiplier below 1, an unknown Jitter, a JitterFactor or
// RetryAfterJitter above 1, and contradictions: a MaxDelay less than the
// InitialDelay (the default 100 ms counts: MaxDelay: 50ms alone panics),
// a JitterFactor with a Jitter other than JitterProportional, an
// InitialDelay or Multiplier with a Backoff (they shape only the built-in
// backoff); and on an Observer that is a typed nil.
//
// A Config is a plain value: copy it freely. A Budget in it is shared by
// every Retry built from the copies, which is what a budget is for.
type Config struct {
	// Name names the Retry for telemetry (logs, metrics labels): Retry.Name
	// returns it. Zero means "". It changes nothing in how Do retries.
	Name string

	// MaxRetries is how many times an operation is retried after its first
	// call, so it is called at most 1+MaxRetries times. Zero means
	// DefaultMaxRetries (3); resilience.None means no retry (op is called
	// once, and its failure comes back in an [*ExhaustedError] with
	// ReasonMaxRetries).
	MaxRetries int

	// Backoff, when not nil, makes the backoff.BackOff that gives the base
	// delay before each retry of one call: it is called once per call of Do,
	// only after the first attempt failed (a call that succeeds at once
	// costs nothing), then Reset is called, then NextBackOff once per retry.
	// backoff.Stop ends the retries. A factory rather than a value because
	// the backoffs of backoff/v4 keep per-call state and are not safe for
	// concurrent use; a stateless one (backoff.ConstantBackOff) may be
	// returned every time:
	//
	//	b := backoff.NewConstantBackOff(time.Second)
	//	cfg.Backoff = func() backoff.BackOff { return b }
	//
	// The delays are still capped by MaxDelay and spread by Jitter; note
	// that backoff.ExponentialBackOff already randomizes (set its
	// RandomizationFactor to 0, or use JitterNone). InitialDelay and
	// Multiplier must then be left zero.
	//
	// Nil means the built-in exponential backoff: InitialDelay, then
	// multiplied by Multiplier before each further retry, capped by MaxDelay.
	// It allocates nothing.
	Backoff func() backoff.BackOff

	// InitialDelay is the base delay before the first retry of the built-in
	// backoff; it must be left zero when Backoff is set, and must not
	// exceed MaxDelay. Zero means DefaultInitialDelay (100 ms);
	// resilience.None means no delay (every retry at once, whatever the
	// Multiplier).
	InitialDelay time.Duration

	// Multiplier is the growth factor of the built-in backoff, at least 1;
	// 1 gives a constant delay. It must be left zero when Backoff is set.
	// Zero means DefaultMultiplier (2). (resilience.None has no meaning
	// here and panics: a delay that does not grow is Multiplier 1.)
	Multiplier float64

	// MaxDelay caps every delay, from the backoff and after jitter, and
	// the wait of a Retry-After: a Retry-After longer than MaxDelay makes
	// Do give up at once (ReasonRetryAfter) rather than wait that long.
	// Zero means DefaultMaxDelay (10 s). resilience.None means 0: retries
	// without delay (InitialDelay must then be resilience.None too), and
	// any Retry-After ends the retry. resilience.Forever means no cap of
	// its own: a Retry-After is waited for as long as the caller's
	// deadline and MaxElapsed allow.
	MaxDelay time.Duration

	// Jitter is how each backoff delay is spread; the zero value is
	// JitterFull. It does not spread the wait of a Retry-After: that is
	// RetryAfterJitter's (so JitterNone alone does not make the waits of
	// a Retry-After exact: set RetryAfterJitter to resilience.None too).
	Jitter Jitter

	// JitterFactor is the spread of JitterProportional, in (0, 1]; it must
	// be left zero with any other Jitter. Zero means DefaultJitterFactor
	// (0.5: from half to one and a half times the delay);
	// resilience.None means no spread.
	JitterFactor float64

	// RetryAfterJitter is the spread f of a wait that comes from a
	// Retry-After, in (0, 1]: told to wait ra, Do waits a random time in
	// [ra, ra·(1+f)), never less than asked, so that callers told the same
	// thing at the same moment do not all come back at the same instant.
	// The spread is cut short by MaxDelay and by the time left before the
	// caller's deadline or the end of MaxElapsed (a ra that fits, with a
	// spread that would not, is drawn in [ra, time left)). When the backoff
	// delay is longer, Do waits the longer of the two: only the Retry-After
	// part is spread, the backoff delay keeps its own Jitter. Zero means
	// DefaultRetryAfterJitter (0.2: see there why); resilience.None means
	// no spread (the wait is exactly ra). The draws come from Rand.
	RetryAfterJitter float64

	// WaitOnRejection makes Do wait for a local rejection that carries a
	// RetryAfter as it waits for a server's Retry-After (spread by
	// RetryAfterJitter, capped by MaxDelay and the time left, giving up
	// when longer), then retry. A local rejection is an error for which
	// resilience.IsLocalRejection is true: a policy of this process (an
	// open breaker, a full bulkhead, a local rate limit) refused the call
	// before it reached the dependency.
	//
	// False, the default, ends the retry at once on a local rejection:
	// waiting for the next probe of an open breaker would make every call
	// of an outage take as long as the breaker stays open. A local
	// rejection without a RetryAfter ends the retry at once either way
	// (the policy that refused has its own wait, such as a MaxWait). With
	// or without it, a local rejection is not a failure of the
	// dependency: Budget.Failure is not called for it.
	WaitOnRejection bool

	// MaxElapsed bounds the whole call: Do does not start a retry that
	// could not begin within MaxElapsed of the start of Do (and gives up at
	// once instead of sleeping). It does not interrupt a running attempt;
	// use a time limit for that. Zero means no bound other than the
	// caller's deadline (the default is none, so resilience.None is not
	// accepted here). When set, every call reads the clock once at its
	// start, even one that succeeds at once.
	MaxElapsed time.Duration

	// Retryable, when not nil, reports whether an error is worth retrying;
	// Do returns other errors as they are. Errors marked permanent are never
	// retried, whatever Retryable says. Nil means every other error is
	// retryable. It may be called concurrently.
	Retryable func(error) bool

	// OnRetry, when not nil, is called before each retry, with the context
	// given to Do (so a log line can carry the call's trace), the number of
	// the attempt that failed (1 for the first call, which is also the
	// number of the retry about to start), its error and the delay before
	// the retry. It is called on the goroutine of Do, with no lock held,
	// possibly concurrently for different calls.
	OnRetry func(ctx context.Context, attempt int, err error, delay time.Duration)

	// Observer, when not nil, is told what the Retry does, one
	// resilience.Event each, with Policy "retry" and Name: the end of each
	// attempt (EventAttempt), each retry scheduled (EventRetry), a retry
	// the Budget refused (EventReject, Reason "budget") and the end of
	// each call (EventDone); see "Events" in the package documentation.
	// It is called on the goroutine of Do, with no lock held, after
	// OnRetry where both are told of a retry, possibly concurrently for
	// different calls. Zero means no observer: nothing is reported and
	// nothing is paid (Do reads no clock for it and allocates nothing).
	Observer resilience.Observer

	// Budget, when not nil, limits retries across every call that shares it
	// (see TokenBudget and RatioBudget). Nil means no budget: each call may
	// make all its retries.
	Budget Budget

	// Rand, when not nil, is the source of the jitter, for reproducible
	// delays in tests: seed it (rand.New(rand.NewPCG(1, 2))) and the delays
	// follow. The Retry serializes its use with a lock of its own, so it
	// must not be used by anything else, including another Retry. Nil means
	// the global generator of math/rand/v2.
	Rand *rand.Rand
}

// withDefaults panics on invalid values and returns c with defaults filled in.
func (c Config) withDefaults() Config {
	switch {
	case c.MaxRetries < 0 && c.MaxRetries != resilience.None:
		panic("retry: MaxRetries must not be negative (resilience.None: no retries)")
	case c.InitialDelay < 0 && c.InitialDelay != resilience.None:
		panic("retry: InitialDelay must not be negative (resilience.None: no delay)")
	case c.Multiplier != 0 && !(c.Multiplier >= 1): // also rejects NaN and None
		panic("retry: Multiplier must be at least 1 (1: a constant delay)")
	case c.MaxDelay < 0 && c.MaxDelay != resilience.None:
		panic("retry: MaxDelay must not be negative (resilience.None: no delay)")
	case c.Jitter >= jitterKinds:
		panic("retry: unknown Jitter " + c.Jitter.String())
	case c.JitterFactor != 0 && c.JitterFactor != resilience.None && !(c.JitterFactor > 0 && c.JitterFactor <= 1):
		panic("retry: JitterFactor must be in (0, 1] (resilience.None: no spread)")
	case c.JitterFactor != 0 && c.Jitter != JitterProportional:
		panic("retry: JitterFactor is the spread of JitterProportional, but Jitter is " + c.Jitter.String())
	case c.RetryAfterJitter != 0 && c.RetryAfterJitter != resilience.None && !(c.RetryAfterJitter > 0 && c.RetryAfterJitter <= 1):
		panic("retry: RetryAfterJitter must be in (0, 1] (resilience.None: no spread)")
	case c.MaxElapsed < 0:
		panic("retry: MaxElapsed must not be negative (zero already means no bound)")
	case c.Backoff != nil && (c.InitialDelay != 0 || c.Multiplier != 0):
		panic("retry: InitialDelay and Multiplier shape the built-in backoff: leave them zero when Backoff is set")
	}
	observe.Check("retry", c.Observer)
	defaultInitial := c.InitialDelay == 0
	defaultMax := c.MaxDelay == 0
	c.MaxRetries = orDefault(c.MaxRetries, DefaultMaxRetries)
	c.InitialDelay = orDefault(c.InitialDelay, DefaultInitialDelay)
	c.Multiplier = orDefault(c.Multiplier, DefaultMultiplier)
	c.MaxDelay = orDefault(c.MaxDelay, DefaultMaxDelay)
	c.JitterFactor = orDefault(c.JitterFactor, DefaultJitterFactor)
	c.RetryAfterJitter = orDefault(c.RetryAfterJitter, DefaultRetryAfterJitter)
	if c.Backoff == nil && c.MaxDelay < c.InitialDelay {
		panic(fmt.Sprintf("retry: MaxDelay %v%s is less than InitialDelay %v%s",
			c.MaxDelay, defaultNote(defaultMax), c.InitialDelay, defaultNote(defaultInitial)))
	}
	return c
}

// orDefault applies the rule of zero values: zero is def, resilience.None
// is zero, anything else is itself.
func orDefault[T int | float64 | time.Duration](v, def T) T {
	switch v {
	case 0:
		return def
	case resilience.None:
		return 0
	}
	return v
}

func defaultNote(isDefault bool) string {
	if isDefault {
		return " (the default)"
	}
	return ""
}

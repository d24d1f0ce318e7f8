package retry

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxRetries   = 3
	DefaultInitialDelay = 100 * time.Millisecond
	DefaultMultiplier   = 2.0
	DefaultMaxDelay     = 10 * time.Second
	DefaultJitterFactor = 0.5
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
	// JitterDecorrelated waits a random time between d and three times the
	// previous delay of the same call (d on the first retry), capped by
	// MaxDelay. With a constant backoff this is AWS's "decorrelated jitter".
	JitterDecorrelated
	// JitterProportional multiplies d by a random factor in
	// [1-JitterFactor, 1+JitterFactor], capped by MaxDelay, as the
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
// from 100 ms capped at 10 s. [New] panics on values that make no sense
// (negative counts or durations, a Multiplier below 1, an unknown Jitter, a
// JitterFactor above 1).
//
// A Config is a plain value: copy it freely. A Budget in it is shared by
// every Retry built from the copies, which is what a budget is for.
type Config struct {
	// MaxRetries is how many times an operation is retried after its first
	// call, so it is called at most 1+MaxRetries times. Zero means
	// DefaultMaxRetries (3).
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
	// RandomizationFactor to 0, or use JitterNone).
	//
	// Nil means the built-in exponential backoff: InitialDelay, then
	// multiplied by Multiplier before each further retry, capped by MaxDelay.
	// It allocates nothing.
	Backoff func() backoff.BackOff

	// InitialDelay is the base delay before the first retry of the built-in
	// backoff (ignored when Backoff is set). Zero means DefaultInitialDelay
	// (100 ms).
	InitialDelay time.Duration

	// Multiplier is the growth factor of the built-in backoff (ignored when
	// Backoff is set); 1 gives a constant delay. Zero means
	// DefaultMultiplier (2).
	Multiplier float64

	// MaxDelay caps every delay, from the backoff and after jitter. A
	// Retry-After longer than MaxDelay makes Do give up at once rather than
	// wait that long. Zero means DefaultMaxDelay (10 s).
	MaxDelay time.Duration

	// Jitter is how each delay is spread; the zero value is JitterFull.
	Jitter Jitter

	// JitterFactor is the spread of JitterProportional, in (0, 1]. Zero
	// means DefaultJitterFactor (0.5: from half to one and a half times
	// the delay).
	JitterFactor float64

	// MaxElapsed bounds the whole call: Do does not start a retry that
	// could not begin within MaxElapsed of the start of Do (and gives up at
	// once instead of sleeping). It does not interrupt a running attempt;
	// use a time limit for that. Zero means no bound other than the
	// caller's deadline. When set, every call reads the clock once at its
	// start, even one that succeeds at once.
	MaxElapsed time.Duration

	// Retryable, when not nil, reports whether an error is worth retrying;
	// Do returns other errors as they are. Errors marked permanent are never
	// retried, whatever Retryable says. Nil means every other error is
	// retryable. It may be called concurrently.
	Retryable func(error) bool

	// OnRetry, when not nil, is called before each retry, with the number of
	// the attempt that failed (1 for the first call, which is also the
	// number of the retry about to start), its error and the delay before
	// the retry. It is called on the goroutine of Do, with no lock held,
	// possibly concurrently for different calls.
	OnRetry func(attempt int, err error, delay time.Duration)

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
	case c.MaxRetries < 0:
		panic("retry: MaxRetries must not be negative")
	case c.InitialDelay < 0:
		panic("retry: InitialDelay must not be negative")
	case c.Multiplier != 0 && !(c.Multiplier >= 1): // also rejects NaN
		panic("retry: Multiplier must be at least 1")
	case c.MaxDelay < 0:
		panic("retry: MaxDelay must not be negative")
	case c.Jitter >= jitterKinds:
		panic("retry: unknown Jitter " + c.Jitter.String())
	case c.JitterFactor != 0 && !(c.JitterFactor > 0 && c.JitterFactor <= 1):
		panic("retry: JitterFactor must be in (0, 1]")
	case c.MaxElapsed < 0:
		panic("retry: MaxElapsed must not be negative")
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.InitialDelay == 0 {
		c.InitialDelay = DefaultInitialDelay
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultMultiplier
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.JitterFactor == 0 {
		c.JitterFactor = DefaultJitterFactor
	}
	return c
}

package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Limit describes a token bucket: tokens are added at Rate per second up to
// Burst; a call takes one token (an HTTP request takes its cost). Over any
// period T a bucket admits at most Burst + Rate×T tokens' worth of calls.
//
// The zero Limit admits nothing. A Rate of rate.Inf admits everything.
type Limit struct {
	// Rate is how many tokens are added per second (rate.Every converts an
	// interval). It must not be negative.
	Rate rate.Limit
	// Burst is the size of the bucket: how many tokens can be spent at once
	// after a quiet period. It must not be negative.
	Burst int
	// Name names the quota policy in the RateLimit and RateLimit-Policy
	// response headers written by [Handler]; "" means "default".
	Name string
}

// PerWindow returns the Limit of n calls per window: a bucket of n tokens
// that refills completely in window, e.g. PerWindow(100, time.Minute). It
// panics if n is negative or window is not positive.
func PerWindow(n int, window time.Duration) Limit {
	if n < 0 || window <= 0 {
		panic(fmt.Sprintf("ratelimit: PerWindow(%d, %v): need n >= 0 and window > 0", n, window))
	}
	return Limit{Rate: rate.Limit(float64(n) / window.Seconds()), Burst: n}
}

// Window returns how long an empty bucket takes to fill: Burst/Rate. It is
// the "w" parameter of the RateLimit-Policy header. It is 0 for an infinite
// rate and math.MaxInt64 for a zero rate.
func (l Limit) Window() time.Duration {
	switch {
	case l.Rate == rate.Inf:
		return 0
	case l.Rate <= 0:
		return math.MaxInt64
	}
	return durationOf(float64(l.Burst) / float64(l.Rate))
}

func (l Limit) name() string {
	if l.Name == "" {
		return "default"
	}
	return l.Name
}

func (l Limit) check() {
	if l.Rate < 0 || math.IsNaN(float64(l.Rate)) || l.Burst < 0 {
		panic(fmt.Sprintf("ratelimit: invalid limit: rate %v, burst %d (both must be >= 0)", l.Rate, l.Burst))
	}
}

// durationOf converts seconds to a Duration, saturating instead of
// overflowing.
func durationOf(secs float64) time.Duration {
	d := secs * float64(time.Second)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(d))
}

// Decision is the outcome of one [Taker.Take]: whether the call was
// admitted, and the state of its bucket afterwards, which [Handler] reports
// in the RateLimit response headers.
type Decision struct {
	// Allowed is true when the tokens were taken and the call may proceed.
	Allowed bool
	// Limit is the limit of the bucket that decided (the tier of the key).
	// It is the zero Limit when the decision was made without a limit (a
	// distributed limiter failing open).
	Limit Limit
	// Remaining is how many whole tokens are left in the bucket after the
	// decision; -1 when unknown.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is, when Allowed is false, how long until the tokens asked
	// for will be there; 0 when unknown or when they never will (the cost
	// exceeds the burst).
	RetryAfter time.Duration
	// Reason says why the call was refused; meaningless when Allowed.
	Reason Reason
}

// Err returns nil when the decision allowed the call, and otherwise the
// [*LimitedError] that describes the refusal for key.
func (d Decision) Err(key string) error {
	if d.Allowed {
		return nil
	}
	return &LimitedError{Key: key, Reason: d.Reason, Wait: d.RetryAfter}
}

// A Taker makes rate-limit decisions for keys without waiting: it takes
// cost tokens from the bucket of key when they are there and reports the
// outcome. [Limiter] (which has one bucket and ignores the key), [Keyed] and
// the distributed limiter of package ratelimit/redis are Takers, which is
// what [Handler] needs.
//
// Take returns an error only when it could not decide at all (a store that
// is unavailable under a fail-closed configuration returns a
// [*LimitedError] with Reason Unavailable).
type Taker interface {
	Take(ctx context.Context, key string, cost int) (Decision, error)
}

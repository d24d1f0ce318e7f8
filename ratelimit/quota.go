package ratelimit

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/ratelimit/internal/rules"
)

// Quota describes a token bucket: tokens are added at Rate per second up to
// Burst; a call takes one token (or its cost, see [Config.Cost]). Over any
// period T a bucket admits at most Burst + Rate×T tokens' worth of calls.
//
// A Rate of rate.Inf admits everything (Burst is then ignored). A Rate of 0
// admits Burst tokens in all, then nothing: the bucket never refills, as
// with rate.Limiter. Burst must be at least 1 otherwise: a bucket of no
// tokens would refuse every call, so the constructors panic on it, as on a
// negative, NaN or +Inf Rate (rate.Inf, not +Inf, says "no limit").
type Quota struct {
	// Rate is how many tokens are added per second (rate.Every converts an
	// interval). It must not be negative.
	Rate rate.Limit
	// Burst is the size of the bucket: how many tokens can be spent at once
	// after a quiet period. It must be at least 1 unless Rate is rate.Inf.
	Burst int
	// Name names the quota policy in the RateLimit and RateLimit-Policy
	// response headers; "" means "default".
	Name string
}

// PerWindow returns the Quota of n calls per window: a bucket of n tokens
// that refills completely in window, e.g. PerWindow(100, time.Minute). It
// panics if n is below 1 or window is not positive.
func PerWindow(n int, window time.Duration) Quota {
	if n < 1 || window <= 0 {
		panic(fmt.Sprintf("ratelimit: PerWindow(%d, %v): need n >= 1 and window > 0", n, window))
	}
	return Quota{Rate: rate.Limit(float64(n) / window.Seconds()), Burst: n}
}

// Window returns how long an empty bucket takes to fill: Burst/Rate. It is
// the "w" parameter of the RateLimit-Policy header. It is 0 for an infinite
// rate and math.MaxInt64 for a zero rate.
func (l Quota) Window() time.Duration {
	switch {
	case l.Rate == rate.Inf:
		return 0
	case l.Rate <= 0:
		return math.MaxInt64
	}
	return durationOf(float64(l.Burst) / float64(l.Rate))
}

func (l Quota) name() string {
	if l.Name == "" {
		return "default"
	}
	return l.Name
}

// check panics unless l is a usable limit (see [Quota]); who and key name
// a tier for the message.
func (l Quota) check(who, key string) {
	rules.CheckLimit("ratelimit", float64(l.Rate), l.Burst, true, who, key)
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

// never is the Reset of a bucket that never refills (a Rate of 0).
const never = time.Duration(math.MaxInt64)

// Decision is the outcome of one Take, and the state of its bucket
// afterwards, which the limiters report in the RateLimit response headers
// (see [Decision.SetHeaders]).
type Decision struct {
	// Allowed is true when the tokens were taken and the call may proceed.
	Allowed bool
	// Quota is the limit of the bucket that decided (the tier of the key).
	// It is the zero Quota when the decision was made without a limit (a
	// distributed limiter failing open).
	Quota Quota
	// Remaining is how many whole tokens are left in the bucket after the
	// decision; -1 when unknown.
	Remaining int
	// Reset is how long until the bucket is full again; math.MaxInt64 for
	// a bucket that never refills (Rate 0).
	Reset time.Duration
	// RetryAfter is, when Allowed is false, how long until the tokens asked
	// for will be there; 0 when unknown or when they never will (the cost
	// exceeds the burst, or the bucket never refills).
	RetryAfter time.Duration
	// Reason says why the call was refused; meaningless when Allowed.
	Reason Reason
}

// Err returns nil when the decision allowed the call, and otherwise a new
// [*LimitedError] that describes the refusal for key, whose RetryAfter
// counts down from d.RetryAfter as of the call of Err.
func (d Decision) Err(key string) error {
	if d.Allowed {
		return nil
	}
	return NewLimitedError(key, d.Reason, d.RetryAfter, nil)
}

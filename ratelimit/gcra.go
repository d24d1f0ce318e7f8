package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// gcra holds a Limit in the form the generic cell rate algorithm uses. A
// bucket's whole state is one number, its theoretical arrival time (TAT):
// the moment at which the bucket would be full again. A call of cost n at
// time now is admitted when max(TAT, now) + n·interval − tolerance ≤ now,
// and then moves TAT to max(TAT, now) + n·interval. This admits exactly
// what a token bucket of the same rate and burst admits: tokens at now are
// burst − (TAT − now)/interval.
type gcra struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // burst × interval: how far TAT may run ahead of now
	burst     int64
	inf       bool // admit everything
	deny      bool // admit nothing
}

func newGCRA(l Limit) gcra {
	switch {
	case l.Rate == rate.Inf:
		return gcra{inf: true, burst: int64(l.Burst)}
	case l.Rate <= 0 || l.Burst <= 0 || math.IsNaN(float64(l.Rate)):
		return gcra{deny: true}
	}
	iv := float64(time.Second) / float64(l.Rate)
	if iv < 1 {
		return gcra{inf: true, burst: int64(l.Burst)}
	}
	g := gcra{interval: int64(min(iv, math.MaxInt64/4)), burst: int64(l.Burst)}
	g.tolerance = satMul(g.interval, g.burst)
	return g
}

// satMul multiplies non-negative numbers, saturating at MaxInt64/2 so that
// sums with times stay representable.
func satMul(a, b int64) int64 {
	const limit = math.MaxInt64 / 2
	if a != 0 && b > limit/a {
		return limit
	}
	return a * b
}

// gcraResult is what take decides.
type gcraResult struct {
	ok        bool
	wait      time.Duration // ok: how long the caller must wait (reserved); !ok: RetryAfter
	remaining int64
	reset     time.Duration
	newTAT    int64
}

// take decides a call of cost n at now against tat (0 or anything up to now
// means a full bucket). A call that needs to wait is admitted (reserved)
// when the wait is at most maxWait. The caller stores newTAT when ok.
func (g gcra) take(tat, now, n int64, maxWait time.Duration) gcraResult {
	if tat < now {
		tat = now
	}
	inc := satMul(g.interval, n)
	newTAT := tat + inc
	allowAt := newTAT - g.tolerance
	if wait := allowAt - now; wait > 0 {
		if wait > int64(maxWait) {
			return gcraResult{wait: time.Duration(wait), remaining: g.left(tat, now), reset: time.Duration(tat - now)}
		}
		return gcraResult{ok: true, wait: time.Duration(wait), newTAT: newTAT, reset: time.Duration(newTAT - now)}
	}
	return gcraResult{ok: true, newTAT: newTAT, remaining: g.left(newTAT, now), reset: time.Duration(newTAT - now)}
}

// left returns the whole tokens in a bucket whose TAT is tat.
func (g gcra) left(tat, now int64) int64 {
	if tat <= now {
		return g.burst
	}
	return max(0, (now+g.tolerance-tat)/g.interval)
}

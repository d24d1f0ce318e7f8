package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// gcra holds a Quota in the form the generic cell rate algorithm uses. A
// bucket's whole state is one number, its theoretical arrival time (TAT):
// the moment at which the bucket would be full again. A call of cost n at
// time now is admitted when max(TAT, now) + n·interval − tolerance ≤ now,
// and then moves TAT to max(TAT, now) + n·interval. This admits exactly
// what a token bucket of the same rate and burst admits: tokens at now are
// burst − (TAT − now)/interval.
//
// A bucket that never refills (Rate 0) keeps the tokens it has used
// instead, as zeroBase + used: far above the TAT of any refilling bucket,
// so sweeps never take it for full and evictions take it last.
type gcra struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // burst × interval: how far TAT may run ahead of now
	burst     int64
	inf       bool // admit everything
	norefill  bool // Rate 0: burst tokens in all
}

const (
	// zeroBase is the state of a bucket that never refills and is full.
	zeroBase = math.MaxInt64 - math.MaxInt64/8
	// maxReserve bounds waits and pauses, so that the TAT of a refilling
	// bucket stays below zeroBase (some 36 years: as long as any context
	// allows).
	maxReserve = math.MaxInt64 / 8
)

func newGCRA(l Quota) gcra {
	switch {
	case l.Rate == rate.Inf:
		return gcra{inf: true, burst: int64(l.Burst)}
	case l.Rate == 0:
		return gcra{norefill: true, burst: min(int64(l.Burst), maxReserve)}
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
	reason    Reason        // !ok: why
	wait      time.Duration // ok: how long the caller must wait (reserved); !ok: RetryAfter
	remaining int64
	reset     time.Duration
	newTAT    int64
	at        int64  // wait > 0: when the call could be admitted, ns since the epoch of now
	shard     *shard // the shard of the key, when known
}

// take decides a call of cost n at now against tat (0 or anything up to now
// means a full bucket). A call that needs to wait is admitted (reserved)
// when the wait is at most maxWait. The caller stores newTAT when ok.
func (g gcra) take(tat, now, n int64, maxWait time.Duration) gcraResult {
	if tat < now || tat >= zeroBase { // full, or the state of a tier that never refills
		tat = now
	}
	inc := satMul(g.interval, n)
	newTAT := tat + inc
	allowAt := newTAT - g.tolerance
	if wait := allowAt - now; wait > 0 {
		if wait > int64(maxWait) {
			return gcraResult{wait: time.Duration(wait), at: allowAt, remaining: g.left(tat, now), reset: time.Duration(tat - now)}
		}
		return gcraResult{ok: true, wait: time.Duration(wait), at: allowAt, newTAT: newTAT, reset: time.Duration(newTAT - now)}
	}
	return gcraResult{ok: true, newTAT: newTAT, remaining: g.left(newTAT, now), reset: time.Duration(newTAT - now)}
}

// takeNoRefill decides a call of cost n (at most the burst) for a bucket
// that never refills.
func (g gcra) takeNoRefill(tat, n int64) gcraResult {
	used := g.used(tat)
	if used+n > g.burst {
		return gcraResult{remaining: g.burst - used, reset: never}
	}
	return gcraResult{ok: true, newTAT: zeroBase + used + n, remaining: g.burst - used - n, reset: never}
}

// used returns the tokens a bucket that never refills has spent.
func (g gcra) used(tat int64) int64 {
	if tat < zeroBase {
		return 0
	}
	return min(tat-zeroBase, g.burst)
}

// state returns the whole tokens left and the time until full of a bucket
// whose TAT is tat, without changing it.
func (g gcra) state(tat, now int64) (remaining int64, reset time.Duration) {
	switch {
	case g.norefill:
		return g.burst - g.used(tat), never
	case tat <= now || tat >= zeroBase:
		return g.burst, 0
	}
	return g.left(tat, now), time.Duration(tat - now)
}

// tokens returns the tokens of a bucket whose TAT is tat, fractions
// included: negative while calls wait for tokens they reserved, or a pause
// lasts.
func (g gcra) tokens(tat, now int64) float64 {
	switch {
	case g.inf:
		return float64(g.burst)
	case g.norefill:
		return float64(g.burst - g.used(tat))
	case tat <= now || tat >= zeroBase:
		return float64(g.burst)
	}
	return float64(now+g.tolerance-tat) / float64(g.interval)
}

// left returns the whole tokens in a bucket whose TAT is tat.
func (g gcra) left(tat, now int64) int64 {
	if tat <= now {
		return g.burst
	}
	return max(0, (now+g.tolerance-tat)/g.interval)
}

package chaos

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// Delay gives the latency to inject into one call. It is called once per
// call that the fault applies to, from many goroutines at once, and must
// be safe for that. A result of zero or less means no wait.
//
// Write your own to model a distribution not offered here.
type Delay func() time.Duration

// Fixed returns a delay of d for every call. It panics when d < 0.
func Fixed(d time.Duration) Delay {
	if d < 0 {
		panic("chaos: Fixed with a negative duration")
	}
	return func() time.Duration { return d }
}

// Uniform returns delays spread evenly over [lo, hi), drawn from a random
// sequence fixed by seed (see [Rate] for what that guarantees). It panics
// when lo < 0 or hi < lo.
func Uniform(lo, hi time.Duration, seed uint64) Delay {
	if lo < 0 || hi < lo {
		panic("chaos: Uniform needs 0 <= lo <= hi")
	}
	var n atomic.Uint64
	span := float64(hi - lo)
	return func() time.Duration {
		return lo + time.Duration(unit(seed, n.Add(1))*span)
	}
}

// Exponential returns delays with an exponential distribution of the given
// mean, capped at limit (a long tail, as real latencies have: most calls
// are quick, a few are very slow), drawn from a random sequence fixed by
// seed. A limit of zero means 20 times the mean. It panics when mean <= 0
// or limit < 0.
func Exponential(mean, limit time.Duration, seed uint64) Delay {
	if mean <= 0 || limit < 0 {
		panic("chaos: Exponential needs mean > 0 and limit >= 0")
	}
	if limit == 0 {
		limit = 20 * mean
	}
	var n atomic.Uint64
	return func() time.Duration {
		u := unit(seed, n.Add(1))
		d := -math.Log1p(-u) * float64(mean) // u in [0, 1): the log is finite
		if d >= float64(limit) {
			return limit
		}
		return time.Duration(d)
	}
}

// unit returns the i-th number of the random sequence of seed, uniform in
// [0, 1). The sequence is SplitMix64's: a counter mixed by a strong
// finalizer, so concurrent callers need only an atomic counter.
func unit(seed, i uint64) float64 {
	z := seed + i*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// sleep waits d, or until ctx is done, in which case it returns ctx.Err().
// It starts no goroutine, so it plays in virtual time and leaks nothing.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

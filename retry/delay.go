package retry

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// nextDelay returns the delay before retry n (1 for the first retry) of
// the call whose state is st: the base delay of the backoff, capped by
// MaxDelay, spread by the jitter. ok is false when the backoff says stop.
func (r *Retry) nextDelay(st *attemptState, n int) (d time.Duration, ok bool) {
	if r.newBackoff != nil {
		if st.bo == nil {
			st.bo = r.newBackoff()
			st.bo.Reset()
		}
		d = st.bo.NextBackOff()
		if d == backoff.Stop || d < 0 {
			return 0, false
		}
	} else {
		if n == 1 {
			st.base = r.initialDelay
		}
		d = st.base
		st.base = grow(st.base, r.multiplier, r.maxDelay)
	}
	d = min(d, r.maxDelay)
	return r.spread(st, d), true
}

// grow returns d·m, capped by limit (and safe from overflow).
func grow(d time.Duration, m float64, limit time.Duration) time.Duration {
	if d >= limit {
		return limit
	}
	f := float64(d) * m
	if f >= float64(limit) {
		return limit
	}
	return time.Duration(f)
}

// spread applies the jitter to the base delay d (already capped).
func (r *Retry) spread(st *attemptState, d time.Duration) time.Duration {
	switch r.jitter {
	case JitterNone:
		return d
	case JitterEqual:
		half := d / 2
		return half + scale(d-half, r.float64())
	case JitterDecorrelated:
		prev := st.prev
		if prev == 0 {
			prev = d
		}
		hi := r.maxDelay
		if prev <= r.maxDelay/3 {
			hi = 3 * prev
		}
		out := d
		if hi > d {
			out = d + scale(hi-d, r.float64())
		}
		st.prev = out
		return out
	case JitterProportional:
		f := 1 - r.jitterFactor + 2*r.jitterFactor*r.float64()
		x := float64(d) * f
		if x >= float64(r.maxDelay) {
			return r.maxDelay
		}
		return time.Duration(x)
	default: // JitterFull
		return scale(d, r.float64())
	}
}

// scale returns d·u for u in [0, 1).
func scale(d time.Duration, u float64) time.Duration {
	return time.Duration(float64(d) * u)
}

// float64 returns a random number in [0, 1) from Config.Rand, or the global
// generator.
func (r *Retry) float64() float64 {
	if r.rnd == nil {
		return rand.Float64()
	}
	r.mu.Lock()
	u := r.rnd.Float64()
	r.mu.Unlock()
	return u
}

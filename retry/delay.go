package retry

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Schedule is the sequence of delays before the retries of one call: the
// base delay of the backoff, capped by Config.MaxDelay and spread by
// Config.Jitter. It is how [Retry.Do] computes its delays, offered for code
// that retries on its own terms, such as a loop that reconnects or a worker
// that puts a job back in a queue, and should wait as a Retry would:
//
//	s := r.Schedule()
//	for !connected() {
//		d, ok := s.Next()
//		if !ok {
//			break // Config.Backoff said stop
//		}
//		time.Sleep(d) // or a timer and ctx.Done()
//	}
//
// A Schedule only computes delays. The limits of Do (MaxRetries,
// MaxElapsed, the caller's deadline, the Budget), its reaction to an
// error's Retry-After and its OnRetry hook are not part of it.
//
// Get a Schedule from [Retry.Schedule]; the zero value is not usable. It
// belongs to one call: it is not safe for concurrent use (the Retry it
// came from is). It holds no goroutine or timer and needs no cleanup. A
// copy continues from the same point, but shares the backoff.BackOff of
// Config.Backoff once that is made.
type Schedule struct {
	r    *Retry
	n    int             // retries whose delay was computed
	bo   backoff.BackOff // from Config.Backoff, made by the first Next
	base time.Duration   // built-in backoff: base delay of the next retry
	prev time.Duration   // the previous delay, for JitterDecorrelated
}

// Schedule returns the delays of a new call, starting with the delay
// before its first retry. It allocates nothing (a Config.Backoff is only
// called by the first Next).
func (r *Retry) Schedule() Schedule {
	return Schedule{r: r}
}

// Next returns the delay before the next retry, the first one on the
// first call: with the built-in backoff and no jitter, InitialDelay, then
// InitialDelay·Multiplier, and so on up to MaxDelay. ok is false when the
// backoff.BackOff of Config.Backoff returned backoff.Stop (the built-in
// backoff never stops; Next may be called any number of times).
func (s *Schedule) Next() (d time.Duration, ok bool) {
	d, ok = s.nextBase()
	if !ok {
		return 0, false
	}
	return s.spread(d), true
}

// Delay returns the delay before retry n (1 for the first retry, made
// after the first attempt failed), as the n-th Next of a new [Schedule]
// would: it suits retries whose count is kept elsewhere, such as in a
// database row. ok is false when the backoff.BackOff of Config.Backoff
// stops before retry n. Like a Schedule, Delay ignores MaxRetries and the
// other limits of Do. Each call draws new jitter.
//
// With the built-in backoff Delay allocates nothing, and its cost stops
// growing with n once the base delay stops growing (at MaxDelay, or at
// once with a Multiplier of 1): a few tens of nanoseconds. It replays the
// earlier delays of the call where they matter: every one with
// Config.Backoff, and, with JitterDecorrelated (each delay depends on the
// one before), those before the base delay reaches MaxDelay; so with
// Config.Backoff, or JitterDecorrelated on a base delay that stays below
// MaxDelay, its cost grows with n. It panics when n is less than 1. It is
// safe for concurrent use.
func (r *Retry) Delay(n int) (d time.Duration, ok bool) {
	if n < 1 {
		panic(fmt.Sprintf("retry: Delay(%d): retries are numbered from 1", n))
	}
	s := r.Schedule()
	if !s.skip(n - 1) {
		return 0, false
	}
	return s.Next()
}

// nextBase returns the base delay of the next retry, capped by MaxDelay,
// and moves the schedule past it. ok is false when the backoff says stop.
func (s *Schedule) nextBase() (d time.Duration, ok bool) {
	r := s.r
	if r.newBackoff != nil {
		if s.bo == nil {
			s.bo = r.newBackoff()
			s.bo.Reset()
		}
		d = s.bo.NextBackOff()
		if d == backoff.Stop || d < 0 {
			return 0, false
		}
	} else {
		if s.n == 0 {
			s.base = r.initialDelay
		}
		d = s.base
		s.base = grow(s.base, r.multiplier, r.maxDelay)
	}
	s.n++
	return min(d, r.maxDelay), true
}

// skip moves the schedule past k retries, as k calls of Next would, but
// draws jitter only where a later delay depends on it (JitterDecorrelated)
// and stops early once the built-in backoff is steady. It returns false
// when the backoff says stop.
func (s *Schedule) skip(k int) bool {
	r := s.r
	for ; k > 0; k-- {
		if r.newBackoff == nil && s.n > 0 && grow(s.base, r.multiplier, r.maxDelay) == s.base &&
			(r.jitter != JitterDecorrelated || s.base >= r.maxDelay) {
			// The base delay stays the same from here on, and what the
			// jitter makes of it does not depend on earlier delays (a
			// decorrelated delay whose base is MaxDelay is MaxDelay).
			s.n += k
			return true
		}
		d, ok := s.nextBase()
		if !ok {
			return false
		}
		if r.jitter == JitterDecorrelated {
			s.spread(d)
		}
	}
	return true
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
func (s *Schedule) spread(d time.Duration) time.Duration {
	r := s.r
	switch r.jitter {
	case JitterNone:
		return d
	case JitterEqual:
		half := d / 2
		return half + scale(d-half, r.float64())
	case JitterDecorrelated:
		prev := s.prev
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
		s.prev = out
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

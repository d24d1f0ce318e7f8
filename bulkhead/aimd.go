package bulkhead

import (
	"fmt"
	"sync"
	"time"
)

// AIMD is the additive-increase, multiplicative-decrease limit algorithm,
// as in TCP congestion avoidance and Netflix's concurrency-limits: calls
// that succeed while the bulkhead is at least half busy raise the limit by
// one per limit's worth of calls (1/limit each, so about one per round
// trip); a call that is dropped (see [Config.Dropped]) or slower than
// Latency multiplies it by Backoff. Only calls admitted after the last
// decrease can lower the limit again, so one burst of failures, all
// admitted under the old limit, lowers it once and not once per failed
// call.
//
// The zero value is usable: a limit starting at maxConcurrent, lowered by
// 10 % per drop, never below 1, that reacts to drops only. AIMD is a
// description: [AIMD.NewLimit] makes the state of each bulkhead, so one AIMD
// value can configure many bulkheads (a [Group]).
type AIMD struct {
	// Min is the lowest limit, at least 1 (the default).
	Min int
	// Initial is the starting limit; 0 (the default) starts at
	// maxConcurrent.
	Initial int
	// Backoff is the factor applied to the limit on a drop, in (0, 1);
	// 0 means the default, 0.9.
	Backoff float64
	// Latency, when positive, counts a call that took longer than this as
	// a drop. 0 (the default) reacts to failures only.
	Latency time.Duration
}

// NewLimit returns a new AIMD limit bounded by [Min, maxConcurrent]. It
// panics if Min or Initial is negative or above maxConcurrent, if Backoff
// is outside (0, 1) or Latency is negative.
func (a AIMD) NewLimit(maxConcurrent int) Limit {
	lo, start := bounds("AIMD", a.Min, a.Initial, maxConcurrent)
	backoff := a.Backoff
	if backoff == 0 {
		backoff = 0.9
	}
	if !(backoff > 0 && backoff < 1) {
		panic(fmt.Sprintf("bulkhead: AIMD: Backoff %v is outside (0, 1)", a.Backoff))
	}
	if a.Latency < 0 {
		panic(fmt.Sprintf("bulkhead: AIMD: negative Latency %v", a.Latency))
	}
	return &aimdLimit{lo: float64(lo), hi: float64(maxConcurrent), backoff: backoff, latency: a.Latency,
		limit: float64(start)}
}

type aimdLimit struct {
	lo, hi  float64
	backoff float64
	latency time.Duration

	mu    sync.Mutex
	limit float64
	cut   time.Time // when the limit was last lowered
}

func (l *aimdLimit) Value() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

func (l *aimdLimit) Observe(s Sample) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s.Dropped || l.latency > 0 && s.Latency > l.latency:
		if !s.Start.Before(l.cut) {
			l.limit = max(l.lo, float64(int(l.limit))*l.backoff)
			l.cut = s.End()
		}
	case 2*s.InFlight >= int(l.limit):
		l.limit = min(l.hi, l.limit+1/l.limit)
	}
	return int(l.limit)
}

package bulkhead

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Gradient is a latency-gradient limit algorithm in the style of the
// gradient and Vegas limits of Netflix's concurrency-limits. It compares the
// average latency of recent calls with the no-load latency (the least
// latency seen lately): while calls take up to Tolerance times the no-load
// latency the limit grows, by about the square root of the limit per round;
// beyond that it shrinks in proportion. A round is a batch of about limit/2
// calls admitted after the previous change, so the limit moves once per
// batch of fresh measurements instead of chasing the calls admitted under an
// older limit. A dropped call (see [Config.Dropped]) halves the limit at
// once, once per round.
//
// Under overload the limit settles where latency is about Tolerance times
// the no-load latency: the dependency works at its capacity with short
// queues, instead of queueing every call a fixed limit set too high admits.
// The limit does not grow while fewer than half of it is in use.
//
// The no-load latency is the least latency of the calls of the last one to
// two NoLoadWindow periods, so it follows a dependency whose latency rises
// for good (a slower version, a farther region) after at most two windows.
// Like every latency-based algorithm, it then also takes sustained queueing
// for the new normal; a longer window makes that slower.
//
// The zero value is usable: a limit starting at maxConcurrent, never below
// 1, with tolerance 1.5, smoothing 0.2 and a one-minute window. Gradient is a
// description: [Gradient.NewLimit] makes the state of each bulkhead.
type Gradient struct {
	// Min is the lowest limit, at least 1 (the default).
	Min int
	// Initial is the starting limit; 0 (the default) starts at
	// maxConcurrent.
	Initial int
	// Tolerance is how many times the no-load latency calls may take
	// before the limit shrinks; at least 1, and 0 means the default, 1.5.
	// Raise it for a dependency whose latency varies a lot by itself.
	Tolerance float64
	// Smoothing is the weight of each round's new estimate in the limit,
	// in (0, 1]; 0 means the default, 0.2. Higher values react faster and
	// oscillate more.
	Smoothing float64
	// NoLoadWindow is how long the least latency seen is remembered (one
	// to two windows); 0 means the default, one minute.
	NoLoadWindow time.Duration
}

// NewLimit returns a new gradient limit bounded by [Min, maxConcurrent].
// It panics if Min or Initial is negative or above maxConcurrent, if
// Tolerance is below 1, Smoothing outside (0, 1] or NoLoadWindow negative.
func (g Gradient) NewLimit(maxConcurrent int) Limit {
	lo, start := bounds("Gradient", g.Min, g.Initial, maxConcurrent)
	l := &gradientLimit{
		lo: float64(lo), hi: float64(maxConcurrent),
		tolerance: g.Tolerance, smoothing: g.Smoothing, window: g.NoLoadWindow,
		limit: float64(start),
	}
	if l.tolerance == 0 {
		l.tolerance = 1.5
	}
	if l.smoothing == 0 {
		l.smoothing = 0.2
	}
	if l.window == 0 {
		l.window = time.Minute
	}
	switch {
	case !(l.tolerance >= 1) || math.IsInf(l.tolerance, 0):
		panic(fmt.Sprintf("bulkhead: Gradient: Tolerance %v is below 1", g.Tolerance))
	case !(l.smoothing > 0 && l.smoothing <= 1):
		panic(fmt.Sprintf("bulkhead: Gradient: Smoothing %v is outside (0, 1]", g.Smoothing))
	case l.window < 0:
		panic(fmt.Sprintf("bulkhead: Gradient: negative NoLoadWindow %v", g.NoLoadWindow))
	}
	return l
}

type gradientLimit struct {
	lo, hi               float64
	tolerance, smoothing float64
	window               time.Duration

	mu    sync.Mutex
	limit float64

	// The no-load latency is min(minCur, minPrev), ignoring zeros: the
	// least latency seen in the window that began at epoch and in the one
	// before.
	minCur, minPrev time.Duration
	epoch           time.Time

	// The current round: calls admitted at or after round.
	round time.Time
	sum   time.Duration
	count int
	peak  int // most calls in flight seen in the round
}

func (l *gradientLimit) Value() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

func (l *gradientLimit) Observe(s Sample) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := s.End()
	if l.epoch.IsZero() {
		l.epoch = end
	}
	if end.Sub(l.epoch) >= l.window {
		l.minPrev, l.minCur, l.epoch = l.minCur, 0, end
	}
	lat := max(s.Latency, 1)
	if !s.Dropped && (l.minCur == 0 || lat < l.minCur) {
		l.minCur = lat
	}
	if s.Start.Before(l.round) {
		return int(l.limit) // admitted under an older limit
	}
	if s.Dropped {
		l.limit = max(l.lo, l.limit/2)
		l.newRound(end)
		return int(l.limit)
	}
	l.sum += lat
	l.count++
	l.peak = max(l.peak, s.InFlight)
	if l.count < max(1, int(l.limit)/2) {
		return int(l.limit)
	}
	avg := float64(l.sum) / float64(l.count)
	noLoad := float64(l.minCur)
	if l.minPrev != 0 && (l.minCur == 0 || l.minPrev < l.minCur) {
		noLoad = float64(l.minPrev)
	}
	gradient := max(0.5, min(1, l.tolerance*noLoad/avg))
	target := l.limit*gradient + math.Sqrt(l.limit)
	if target > l.limit && float64(l.peak) < l.limit/2 {
		target = l.limit // not using what it has: no reason to grow
	}
	l.limit = max(l.lo, min(l.hi, l.limit*(1-l.smoothing)+target*l.smoothing))
	l.newRound(end)
	return int(l.limit)
}

func (l *gradientLimit) newRound(at time.Time) {
	l.round, l.sum, l.count, l.peak = at, 0, 0, 0
}

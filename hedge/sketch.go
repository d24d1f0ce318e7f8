package hedge

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The sketch of the adaptive delay is a histogram of latencies with
// log-linear buckets (the layout of HdrHistogram): each power of two from
// MinDelay to MaxDelay is cut into subCount buckets of equal width, so that
// a bucket is at most 1/subCount of its lower bound wide. A quantile is read
// as the upper bound of the bucket it falls in: never below the quantile of
// the recorded latencies, and at most 1/subCount (3.125 %) above it.
// Recording is one bucket increment: no lock, no allocation.
const (
	subBits  = 5
	subCount = 1 << subBits

	// refreshEvery is how many recorded latencies pass between two
	// computations of the delay (which scans the buckets).
	refreshEvery = 32

	// minBucketed is the smallest latency, in nanoseconds, the buckets
	// tell apart: below it a power of two has fewer than subCount integers.
	minBucketed = subCount
)

// sketch estimates a quantile of the latencies recorded over the last one
// to two windows: two sets of counters, the current one and the previous
// one, of which the older is cleared and made current every window. Its
// size is fixed at construction by the range [lo, hi]: 2 × 8 bytes per
// bucket, with 32 buckets per power of two and one below and above the
// range (354 buckets, 5.5 KiB, for the default range of 1 ms to 1 s),
// whatever the number of latencies recorded.
type sketch struct {
	lo, hi  int64 // nanoseconds: the delay's bounds; latencies outside count in the end buckets
	loExp   int   // floor(log2(max(lo, minBucketed)))
	q       float64
	window  int64 // nanoseconds
	initial int64 // the delay until minSamples latencies were recorded
	origin  time.Time
	wins    [2]sketchWindow

	cur   atomic.Uint32 // index of the current window
	next  atomic.Int64  // when (nanoseconds since origin) the current window ends
	seen  atomic.Uint64 // latencies recorded since construction
	delay atomic.Int64  // the estimate, refreshed every refreshEvery latencies
	ready atomic.Bool   // the windows held minSamples latencies at the last refresh
}

type sketchWindow struct {
	counts []atomic.Uint64 // [0]: below lo; [len-1]: at or above hi
	total  atomic.Uint64
}

func newSketch(q float64, lo, hi, window time.Duration) *sketch {
	s := &sketch{
		lo: int64(lo), hi: int64(hi), q: q, window: int64(window), initial: int64(hi),
		origin: time.Now(),
	}
	s.loExp = bits.Len64(uint64(max(s.lo, minBucketed))) - 1
	hiExp := bits.Len64(uint64(s.hi)) - 1
	n := 2 + (hiExp-s.loExp+1)*subCount
	for i := range s.wins {
		s.wins[i].counts = make([]atomic.Uint64, n)
	}
	s.next.Store(s.window)
	s.delay.Store(s.initial)
	return s
}

// index returns the bucket of a latency of v nanoseconds.
func (s *sketch) index(v int64) int {
	if v < s.lo || v < minBucketed {
		return 0
	}
	if v >= s.hi {
		return len(s.wins[0].counts) - 1
	}
	e := bits.Len64(uint64(v)) - 1
	m := int(v>>(e-subBits)) & (subCount - 1)
	return 1 + (e-s.loExp)*subCount + m
}

// upper returns the upper bound of bucket i, clamped to [lo, hi].
func (s *sketch) upper(i int) int64 {
	if i == 0 {
		return s.lo
	}
	if i >= len(s.wins[0].counts)-1 {
		return s.hi
	}
	e := (i-1)/subCount + s.loExp
	m := int64((i - 1) % subCount)
	u := (subCount + m + 1) << (e - subBits)
	return min(max(u, s.lo), s.hi)
}

// record counts a latency d that ended at now.
func (s *sketch) record(d time.Duration, now time.Time) {
	if t := int64(now.Sub(s.origin)); t >= s.next.Load() {
		s.rotate(t)
	}
	w := &s.wins[s.cur.Load()&1]
	w.counts[s.index(int64(d))].Add(1)
	w.total.Add(1)
	if n := s.seen.Add(1); n%refreshEvery == 0 || !s.ready.Load() {
		s.refresh()
	}
}

// rotate starts a new window at t (nanoseconds since origin), if no other
// goroutine did: the previous window is cleared and becomes the current
// one. After a silence of more than a window both are cleared. A latency
// recorded by a goroutine that read the index of the current window just
// before the rotation lands in the previous one: a negligible error.
func (s *sketch) rotate(t int64) {
	next := s.next.Load()
	if t < next {
		return
	}
	newNext, stale := next+s.window, false
	if t >= newNext {
		newNext, stale = t+s.window, true
	}
	if !s.next.CompareAndSwap(next, newNext) {
		return
	}
	cur := s.cur.Load() & 1
	s.wins[1-cur].clear()
	if stale {
		s.wins[cur].clear()
	}
	s.cur.Store(1 - cur)
	s.refresh()
}

func (w *sketchWindow) clear() {
	w.total.Store(0)
	for i := range w.counts {
		w.counts[i].Store(0)
	}
}

// refresh computes the estimate from both windows: the upper bound of the
// bucket holding the sample of rank ceil(q·n), or the initial delay while
// they hold fewer than minSamples latencies.
func (s *sketch) refresh() {
	a, b := &s.wins[0], &s.wins[1]
	n := a.total.Load() + b.total.Load()
	if n < minSamples {
		s.ready.Store(false)
		s.delay.Store(s.initial)
		return
	}
	rank := uint64(math.Ceil(s.q * float64(n)))
	d := s.hi
	var sum uint64
	for i := range a.counts {
		sum += a.counts[i].Load() + b.counts[i].Load()
		if sum >= rank {
			d = s.upper(i)
			break
		}
	}
	s.delay.Store(d)
	s.ready.Store(true)
}

// estimate returns the current delay.
func (s *sketch) estimate() time.Duration { return time.Duration(s.delay.Load()) }

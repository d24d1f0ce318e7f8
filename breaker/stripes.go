package breaker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cacheLine is the size the counters of a stripe are padded to.
const cacheLine = 64

// golden is 2^64 divided by the golden ratio: the multiplier of Fibonacci
// hashing, which spreads nearby inputs over the top bits.
const golden = 0x9E3779B97F4A7C15

// stripes is a set of counters spread over cache lines, so that goroutines
// counting at the same time on different CPUs mostly write different lines
// instead of all fighting for one. Each stripe holds width counters (one
// per bucket of a time window, or just one); a sum reads every stripe.
//
// Go does not tell a goroutine which CPU it runs on, so a stripe is first
// picked from the address of the goroutine's stack: free, stable while the
// goroutine runs, and different between goroutines. Two busy goroutines may
// still land on one stripe; an add notices it (its compare-and-swap fails)
// and reshuffles the stripes with a new multiplier for the hash. That settles a
// few long-lived goroutines (workers, benchmarks). When contention goes on
// (many short-lived goroutines, as in a server), the stripes are picked per
// P instead, through a sync.Pool whose per-P caches hand each P its own
// token: a few nanoseconds more per add, paid only by contended counters.
//
// Measured against one atomic counter (BenchmarkCounter, and the whole Do
// in bench/: bench/README.md, "Clever code, measured"), stripes cost 3 to
// 7 ns more per serial call and make a call from every CPU at once about
// 30 % cheaper, on 2 CPUs already: they stay for the parallel case.
type stripes struct {
	c      []atomic.Int64
	stride int           // counters per stripe, a multiple of a cache line
	shift  uint          // 64 - log2(number of stripes)
	mult   atomic.Uint64 // of the hash, odd
	perP   atomic.Bool
	shakes atomic.Int32 // multipliers tried so far
	tokens sync.Pool    // *token, when perP
	next   atomic.Int64
}

// maxShakes is how many multipliers stripes try before picking stripes
// per P.
const maxShakes = 3

// token names the stripe of the P whose pool cache holds it.
type token struct{ base int }

func (s *stripes) init(width int) {
	n, bits := 16, uint(4)
	for n < 2*runtime.GOMAXPROCS(0) && n < 256 {
		n, bits = n<<1, bits+1
	}
	per := cacheLine / 8
	s.stride = (width + per - 1) / per * per
	s.shift = 64 - bits
	c := make([]atomic.Int64, n*s.stride+per)
	// Start the first stripe on a cache line boundary.
	off := (cacheLine - int(uintptr(unsafe.Pointer(&c[0]))%cacheLine)) % cacheLine / 8
	s.c = c[off : off+n*s.stride]
	s.mult.Store(golden)
	s.tokens.New = func() any {
		return &token{base: int(s.next.Add(1)-1) & (n - 1) * s.stride}
	}
}

// stripe returns the index of the first counter of the caller's stripe.
func (s *stripes) stripe() int {
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))) >> 11 // 2 KiB: the smallest goroutine stack
	return int(h*s.mult.Load()>>s.shift) * s.stride
}

// add adds 1 to counter i of the caller's stripe.
func (s *stripes) add(i int) {
	if !s.perP.Load() {
		c := &s.c[s.stripe()+i]
		if v := c.Load(); c.CompareAndSwap(v, v+1) {
			return
		}
	}
	s.addContended(i)
}

// addContended adds 1 to counter i after a compare-and-swap failed, or
// once stripes are picked per P.
func (s *stripes) addContended(i int) {
	if !s.perP.Load() {
		s.c[s.stripe()+i].Add(1)
		if n := s.shakes.Add(1); n <= maxShakes {
			s.mult.Store(golden * (2*uint64(n) + 1)) // odd times odd
		} else {
			s.perP.Store(true)
		}
		return
	}
	t := s.tokens.Get().(*token)
	s.c[t.base+i].Add(1)
	s.tokens.Put(t)
}

// enter adds 1 to counter i of the caller's stripe and returns that
// counter, for the caller to take the 1 back from the same counter: each
// counter then stays at least 0, and a sum that reads 0 misses no caller
// that entered before the read. A Group counts the calls in flight so.
// The stripe is always the one of the stack address, even once the
// success counter went per P: a sync.Pool token per call doubled the cost
// of Group.Do in parallel (BenchmarkGroupDo), and a collision here only
// shares a cache line.
func (s *stripes) enter(i int) *atomic.Int64 {
	c := &s.c[s.stripe()+i]
	c.Add(1)
	return c
}

// sum returns counter i summed over the stripes.
func (s *stripes) sum(i int) int64 {
	var n int64
	for j := i; j < len(s.c); j += s.stride {
		n += s.c[j].Load()
	}
	return n
}

// take sets counter i of every stripe to zero and returns what they held.
func (s *stripes) take(i int) int64 {
	var n int64
	for j := i; j < len(s.c); j += s.stride {
		if s.c[j].Load() != 0 {
			n += s.c[j].Swap(0)
		}
	}
	return n
}

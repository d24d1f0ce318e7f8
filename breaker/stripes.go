package breaker

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// cacheLine is the size the counters of a stripe are padded to.
const cacheLine = 64

// stripes is a set of counters spread over cache lines, so that goroutines
// counting at the same time on different CPUs mostly write different lines
// instead of all fighting for one. Each stripe holds width counters (one
// per bucket of a time window, or just one); a sum reads every stripe.
//
// A goroutine picks its stripe from the address of its stack, which is
// stable while it runs and differs between goroutines: a cheap stand-in for
// a per-CPU index, which Go does not expose. Two goroutines may share a
// stripe; that only costs speed.
type stripes struct {
	c      []atomic.Int64
	stride int  // counters per stripe, a multiple of a cache line
	shift  uint // 64 - log2(number of stripes)
}

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
}

// stripe returns the index of the first counter of the caller's stripe.
func (s *stripes) stripe() int {
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))) >> 13 // 8 KiB: the smallest goroutine stack
	return int(h*0x9E3779B97F4A7C15>>s.shift) * s.stride
}

// add adds 1 to counter i of the caller's stripe.
func (s *stripes) add(i int) { s.c[s.stripe()+i].Add(1) }

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

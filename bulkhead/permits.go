package bulkhead

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// The permits of a bulkhead are split into shards, each on cache lines of
// its own, so that calls on different CPUs do not fight over one counter.
// The limit is still exact: shard i admits at most its share of the limit
// (limit/len(shards), plus one for the first limit%len(shards) shards), and
// a call whose own shard is full tries the others before it queues or is
// refused.
//
// Each call starts with the shard its goroutine's stack address picks,
// through a multiplier shared by every call: a hash of the address, so
// goroutines spread over the shards and one goroutine keeps to one shard.
// When two goroutines turn out to share a shard (a compare-and-swap lost
// a race), the multiplier changes, which reshuffles every goroutine onto
// the shards, up to maxShakes times: two goroutines on two CPUs soon part.
// (It replaced a sync.Pool token per P, whose Get and Put cost a quarter
// of a free call and whose tokens a garbage collection dropped: see
// bench/README.md.)

// maxShards bounds the number of shards: beyond it, scanning them all when
// the bulkhead is nearly full costs more than the contention it saves.
const maxShards = 16

// shard is one share of the permits.
type shard struct {
	// inflight counts the calls holding a permit of this shard; a Group
	// sets it to evictedMark when it drops the bulkhead.
	inflight atomic.Int64
	// limit is this shard's share of the limit.
	limit atomic.Int64
	_     [64 - 16]byte
	// rejected counts the calls refused on this shard's CPU, on a cache
	// line of its own: a full bulkhead's refusals write it, while the
	// calls of the other CPUs read inflight and limit to look for a free
	// permit.
	rejected atomic.Uint64
	_        [64 - 8]byte // keep shards on separate cache lines (and line pairs)
}

// tryAcquire takes a permit of s if one is free. contended reports that
// another call changed the count at the same time.
func (s *shard) tryAcquire() (ok, contended bool) {
	for {
		n := s.inflight.Load()
		if n >= s.limit.Load() {
			return false, contended
		}
		if s.inflight.CompareAndSwap(n, n+1) {
			return true, contended
		}
		contended = true
	}
}

// permits is the sharded permit count of a bulkhead.
type permits struct {
	shards []shard
	mult   atomic.Uint64 // odd: picks a goroutine's shard from its stack address
	shakes atomic.Uint32 // how many times mult changed
}

// golden is 2^64 divided by the golden ratio, the multiplier of Fibonacci
// hashing.
const golden = 0x9e3779b97f4a7c15

// maxShakes bounds how many times contention reshuffles the goroutines:
// past it, goroutines that still collide keep their shards.
const maxShakes = 64

func (p *permits) init(maxConcurrent, limit int) {
	n := min(runtime.GOMAXPROCS(0), maxConcurrent, maxShards)
	p.shards = make([]shard, n)
	p.mult.Store(golden)
	p.setLimit(limit)
}

// homeOf returns the index of the shard the caller's goroutine starts
// with.
func (p *permits) homeOf() int {
	var here byte
	x := uint64(uintptr(unsafe.Pointer(&here))) >> 11 // 2 KiB: the smallest goroutine stack
	return int((x*p.mult.Load())>>32) % len(p.shards)
}

// setLimit shares limit among the shards.
func (p *permits) setLimit(limit int) {
	n := len(p.shards)
	for i := range p.shards {
		share := limit / n
		if i < limit%n {
			share++
		}
		p.shards[i].limit.Store(int64(share))
	}
}

// take takes a permit, preferring the caller's home shard, and returns
// its shard, or nil if none is free. It also returns the home shard.
func (p *permits) take() (taken, home *shard) {
	if len(p.shards) == 1 {
		s := &p.shards[0]
		if ok, _ := s.tryAcquire(); ok {
			return s, s
		}
		return nil, s
	}
	h := &p.shards[p.homeOf()]
	ok, contended := h.tryAcquire()
	if contended {
		if n := p.shakes.Add(1); n <= maxShakes {
			p.mult.Store(golden * (2*uint64(n) + 1)) // odd times odd
		}
	}
	if ok {
		return h, h
	}
	return p.takeAny(h), h
}

// takeAny takes a permit of any shard but skip.
func (p *permits) takeAny(skip *shard) *shard {
	for i := range p.shards {
		if s := &p.shards[i]; s != skip {
			if ok, _ := s.tryAcquire(); ok {
				return s
			}
		}
	}
	return nil
}

// inFlight returns the number of permits taken (not an atomic snapshot).
func (p *permits) inFlight() int {
	var n int64
	for i := range p.shards {
		if v := p.shards[i].inflight.Load(); v < evictedMark {
			n += v
		}
	}
	return int(n)
}

// rejected returns the number of calls refused.
func (p *permits) rejected() uint64 {
	var n uint64
	for i := range p.shards {
		n += p.shards[i].rejected.Load()
	}
	return n
}

// seal marks every shard as evicted if no permit is taken, and reports
// whether it did.
func (p *permits) seal() bool {
	for i := range p.shards {
		if !p.shards[i].inflight.CompareAndSwap(0, evictedMark) {
			for j := range i {
				p.shards[j].inflight.Store(0)
			}
			return false
		}
	}
	return true
}

// unseal makes sealed shards usable again (no permit is taken from a
// sealed shard).
func (p *permits) unseal() {
	for i := range p.shards {
		p.shards[i].inflight.Store(0)
	}
}

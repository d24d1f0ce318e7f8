package bulkhead

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// The permits of a bulkhead are split into shards, each on cache lines of
// its own, so that calls on different CPUs do not fight over one counter.
// The limit is still exact: shard i admits at most its share of the limit
// (limit/len(shards), plus one for the first limit%len(shards) shards), and
// a call whose own shard is full tries the others before it queues or is
// refused.
//
// Each call starts with the shard named by a token it takes from a
// sync.Pool and puts back at once: a Get followed by a Put on the same P
// uses the P's private slot and touches no shared memory, so each P keeps
// using its own token. Tokens start on different shards; when a token's
// shard turns out to be contended (a compare-and-swap lost a race), the
// token moves to a shard drawn at random, so that two Ps that ended up on
// the same shard soon part again.

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
	// rejected counts the calls refused on this shard's CPU.
	rejected atomic.Uint64
	_        [128 - 24]byte // keep shards on separate cache lines (and line pairs)
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

// token names the shard a P tries first.
type token struct{ shard int }

// permits is the sharded permit count of a bulkhead.
type permits struct {
	shards []shard
	home   sync.Pool // *token
	next   atomic.Uint32
}

func (p *permits) init(maxConcurrent, limit int) {
	n := min(runtime.GOMAXPROCS(0), maxConcurrent, maxShards)
	p.shards = make([]shard, n)
	p.home.New = func() any {
		// Allocates only when the pool is empty: at first use on each P,
		// and after garbage collections emptied it.
		return &token{shard: int(p.next.Add(1)) % len(p.shards)}
	}
	p.setLimit(limit)
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

// take takes a permit, preferring the shard of the current P, and returns
// its shard, or nil if none is free. It also returns the shard of the
// current P.
func (p *permits) take() (taken, home *shard) {
	if len(p.shards) == 1 {
		s := &p.shards[0]
		if ok, _ := s.tryAcquire(); ok {
			return s, s
		}
		return nil, s
	}
	t := p.home.Get().(*token)
	h := &p.shards[t.shard]
	ok, contended := h.tryAcquire()
	if contended {
		t.shard = rand.IntN(len(p.shards))
	}
	p.home.Put(t)
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

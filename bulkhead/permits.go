package bulkhead

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The permits of a bulkhead are split into shards, each on cache lines of
// its own, so that calls on different CPUs do not fight over one counter.
// The limit is still exact: shard i admits at most its share of the limit
// (limit/len(shards), plus one for the first limit%len(shards) shards), and
// a call whose own shard is full tries the others before it queues or is
// refused. Each call prefers the shard of the CPU (the P) it runs on, which
// it finds through a sync.Pool: a Get followed by a Put on the same P uses
// the P's private slot and touches no shared memory.

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
	_     [128 - 16]byte // keep shards on separate cache lines (and line pairs)
}

// tryAcquire takes a permit of s if one is free.
func (s *shard) tryAcquire() bool {
	for {
		n := s.inflight.Load()
		if n >= s.limit.Load() {
			return false
		}
		if s.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// permits is the sharded permit count of a bulkhead.
type permits struct {
	shards []shard
	home   sync.Pool // *shard: the shard a P tries first
	next   atomic.Uint32
}

func (p *permits) init(maxConcurrent, limit int) {
	n := min(runtime.GOMAXPROCS(0), maxConcurrent, maxShards)
	p.shards = make([]shard, n)
	p.home.New = func() any {
		return &p.shards[int(p.next.Add(1))%len(p.shards)]
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
// its shard, or nil if none is free.
func (p *permits) take() *shard {
	if len(p.shards) == 1 {
		if s := &p.shards[0]; s.tryAcquire() {
			return s
		}
		return nil
	}
	h := p.home.Get().(*shard)
	ok := h.tryAcquire()
	p.home.Put(h)
	if ok {
		return h
	}
	return p.takeAny(h)
}

// takeAny takes a permit of any shard but skip.
func (p *permits) takeAny(skip *shard) *shard {
	for i := range p.shards {
		if s := &p.shards[i]; s != skip && s.tryAcquire() {
			return s
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

package bulkhead

import "sync/atomic"

// The permits of a bulkhead are one atomic count of the calls holding one,
// beside the limit in force: a call takes a permit with a compare-and-swap
// and gives it back with an add. Shards of the count per P were measured
// against this simple version, serially and in parallel, and did not win
// (bench/README.md, "Clever code, measured").

// permitCount counts the permits taken.
type permitCount struct {
	// inflight counts the calls holding a permit; a Group sets it to
	// evictedMark when it drops the bulkhead.
	inflight atomic.Int64
	// limit is the limit in force.
	limit atomic.Int64
	// rejected counts the calls refused.
	rejected atomic.Uint64
	_        [128 - 24]byte // keep the count off the cache lines of the fields read beside it
}

// tryAcquire takes a permit if one is free.
func (c *permitCount) tryAcquire() bool {
	for {
		n := c.inflight.Load()
		if n >= c.limit.Load() {
			return false
		}
		if c.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// permits is the permit count of a bulkhead.
type permits struct {
	count permitCount
}

func (p *permits) init(limit int) { p.setLimit(limit) }

// setLimit sets the limit in force. Lowering it leaves the calls in flight
// alone.
func (p *permits) setLimit(limit int) { p.count.limit.Store(int64(limit)) }

// take takes a permit and returns the count it came from, or nil if none is
// free. It also returns the count, to count a refusal on.
func (p *permits) take() (taken, home *permitCount) {
	c := &p.count
	if c.tryAcquire() {
		return c, c
	}
	return nil, c
}

// takeAny takes a permit, as take does; the argument is ignored.
func (p *permits) takeAny(*permitCount) *permitCount {
	if p.count.tryAcquire() {
		return &p.count
	}
	return nil
}

// inFlight returns the number of permits taken.
func (p *permits) inFlight() int {
	if v := p.count.inflight.Load(); v < evictedMark {
		return int(v)
	}
	return 0
}

// rejected returns the number of calls refused.
func (p *permits) rejected() uint64 { return p.count.rejected.Load() }

// seal marks the count as evicted if no permit is taken, and reports
// whether it did.
func (p *permits) seal() bool { return p.count.inflight.CompareAndSwap(0, evictedMark) }

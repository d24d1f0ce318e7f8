package cache

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Metrics counts what a cache has done since it was made. Every Get is
// counted once, as a hit, a stale answer or a miss.
type Metrics struct {
	// Hits counts Gets answered with a fresh value, or with a remembered
	// not-found result, without waiting for a load.
	Hits uint64
	// Misses counts Gets that waited for a load (including the Gets that
	// joined a load another Get started).
	Misses uint64
	// StaleServed counts Gets answered with a value past its TTL, under
	// StaleWhileRevalidate or StaleIfError.
	StaleServed uint64
	// Loads counts the loads started, background reloads included. With
	// coalescing it is at most one per key at a time, however many Gets
	// wait.
	Loads uint64
	// LoadErrors counts loads that failed with an error other than
	// ErrNotFound (panics included).
	LoadErrors uint64
	// Evictions counts the entries dropped to stay within MaxEntries.
	Evictions uint64
	// LoadsInFlight is the number of loads running now.
	LoadsInFlight int64
}

// counter is a striped counter for the hit path: increments from different
// processors land on different cache lines, so parallel hits do not fight
// over one. A stripe is picked through a sync.Pool of tokens, which keeps a
// token, and so a stripe, per processor.
type counter struct {
	stripes []stripe
	mask    uint32
	tokens  sync.Pool // *token
}

type stripe struct {
	n atomic.Uint64
	_ [56]byte // one cache line per stripe
}

type token struct{ i uint32 }

func newCounter() *counter {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	return &counter{stripes: make([]stripe, n), mask: uint32(n - 1)}
}

func (c *counter) inc() {
	t, _ := c.tokens.Get().(*token)
	if t == nil {
		t = &token{i: rand.Uint32()}
	}
	c.stripes[t.i&c.mask].n.Add(1)
	c.tokens.Put(t)
}

func (c *counter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}

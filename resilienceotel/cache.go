package resilienceotel

import (
	"maps"
	"sync"
	"sync/atomic"
)

// readMostly is a map that is read far more often than written, as the
// attribute sets of an Observer are: a lookup of a known key is one atomic
// load and a lookup in a map nobody writes, without a lock. New keys go to
// a dirty copy under mu, which replaces the read map once it has been
// missed as often as it has entries (so copying it costs O(1) a miss,
// amortized), as sync.Map did before Go 1.24. It holds at most
// MaxCachedSets entries; past that, get makes the value each time without
// keeping it.
type readMostly[K comparable, V any] struct {
	read   atomic.Pointer[map[K]V]
	mu     sync.Mutex
	dirty  map[K]V // nil, or every entry of read and the new ones
	misses int
}

func (c *readMostly[K, V]) get(k K, make func(K) V) V {
	if r := c.read.Load(); r != nil {
		if v, ok := (*r)[k]; ok {
			return v
		}
	}
	return c.miss(k, make)
}

func (c *readMostly[K, V]) miss(k K, make func(K) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.read.Load()
	if r != nil {
		if v, ok := (*r)[k]; ok {
			return v
		}
	}
	if c.dirty == nil {
		if r != nil && len(*r) >= MaxCachedSets {
			return make(k) // full: no copy to make
		}
		if r != nil {
			c.dirty = maps.Clone(*r)
		} else {
			c.dirty = map[K]V{}
		}
	}
	v, ok := c.dirty[k]
	if !ok {
		v = make(k)
		if len(c.dirty) < MaxCachedSets {
			c.dirty[k] = v
		}
	}
	c.misses++
	if c.misses >= len(c.dirty) {
		d := c.dirty
		c.read.Store(&d)
		c.dirty, c.misses = nil, 0
	}
	return v
}

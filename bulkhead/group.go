package bulkhead

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/resiliencekit/resilience"
)

// DefaultMaxKeys is the number of keys a [Group] remembers when
// GroupConfig.MaxKeys is 0, as in breaker.GroupConfig.
const DefaultMaxKeys = 1024

// GroupConfig holds the optional settings of a [Group]. The zero value
// makes fail-fast bulkheads with a fixed limit and remembers up to
// [DefaultMaxKeys] keys.
type GroupConfig struct {
	// Config configures the bulkhead of every key. Each key's bulkhead has
	// its own queue, counters and adaptive limit; the hooks are shared and
	// may be called for several keys at once.
	Config

	// MaxKeys bounds how many bulkheads the group keeps; 0 means
	// [DefaultMaxKeys]. When a new key arrives at a full group, an idle
	// bulkhead (no call in flight or queued) that has not been used lately
	// is dropped to make room; a dropped key starts afresh when it comes
	// back. When every bulkhead is busy, the call is refused with a
	// [*FullError] whose TooManyKeys reports true. Must not be negative.
	MaxKeys int
}

// Group is a set of bulkheads, one per key, so that each downstream (host,
// tenant, endpoint) gets its own concurrency limit and a slow one cannot
// take the permits of the others. The key of a call is
// resilience.KeyFrom(ctx): resilience.Transport sets it to the request's
// host, and resilience.WithKey sets it explicitly. Calls without a key share
// the bulkhead of the key "".
//
// Make a Group with [NewGroup]; the zero value is not usable. A Group is a
// resilience.Policy and is safe for concurrent use by many goroutines.
type Group struct {
	max     int
	cfg     Config
	maxKeys int
	tooMany *FullError // immutable: the error of every call refused for TooManyKeys

	mu   sync.RWMutex
	m    map[string]*groupEntry
	ring []*groupEntry // the entries, swept by hand to pick one to evict
	hand int
}

type groupEntry struct {
	key  string
	b    *Bulkhead
	used atomic.Bool // set on use, cleared by the eviction sweep
}

// NewGroup returns a group whose bulkheads admit up to maxConcurrent calls
// each, configured by c (the zero GroupConfig is ready to use). It panics
// if maxConcurrent is less than 1 or if c is invalid.
func NewGroup(maxConcurrent int, c GroupConfig) *Group {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("bulkhead: maxConcurrent %d is less than 1", maxConcurrent))
	}
	c.validate()
	if c.MaxKeys < 0 {
		panic(fmt.Sprintf("bulkhead: negative MaxKeys %d", c.MaxKeys))
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Adaptive != nil {
		// Check the algorithm's settings now rather than at the first key.
		if c.Adaptive.NewLimit(maxConcurrent) == nil {
			panic("bulkhead: Adaptive.NewLimit returned nil")
		}
	}
	return &Group{
		max:     maxConcurrent,
		cfg:     c.Config,
		maxKeys: c.MaxKeys,
		tooMany: &FullError{tooManyKeys: true},
		m:       make(map[string]*groupEntry),
	}
}

// Do runs op under the bulkhead of the key of ctx, as [Bulkhead.Do] does,
// making that bulkhead if needed.
func (g *Group) Do(ctx context.Context, op func(context.Context) error) error {
	key := resilience.KeyFrom(ctx)
	for {
		b := g.get(key)
		if b == nil {
			err := g.tooMany
			if g.cfg.OnReject != nil {
				g.cfg.OnReject(ctx, err)
			}
			return err
		}
		s, err := b.acquire(ctx)
		if err == errEvicted {
			continue // dropped between lookup and acquire: look again
		}
		if err != nil {
			return err
		}
		return b.run(ctx, op, s)
	}
}

// get returns the bulkhead of key, making it if needed, or nil when the
// group is full of busy bulkheads.
func (g *Group) get(key string) *Bulkhead {
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	if e != nil {
		if !e.used.Load() {
			e.used.Store(true)
		}
		return e.b
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.m[key]; e != nil {
		e.used.Store(true)
		return e.b
	}
	i := len(g.ring)
	if i >= g.maxKeys {
		// Make room before making the bulkhead: refusing allocates nothing.
		if i = g.evict(); i < 0 {
			return nil
		}
	}
	e = &groupEntry{key: key, b: newBulkhead(g.max, &g.cfg)}
	e.used.Store(true)
	if i == len(g.ring) {
		g.ring = append(g.ring, e)
	} else {
		g.ring[i] = e
	}
	g.m[key] = e
	return e.b
}

// evict drops an idle bulkhead and returns its index in the ring, or -1 if
// none is idle. It sweeps the ring like the CLOCK page-replacement
// algorithm: an entry used since the last sweep gets a second chance. g.mu
// must be held.
func (g *Group) evict() int {
	for range 2 * len(g.ring) {
		i := g.hand
		g.hand = (g.hand + 1) % len(g.ring)
		e := g.ring[i]
		if e.used.Load() {
			e.used.Store(false)
			continue
		}
		if e.b.evict() {
			delete(g.m, e.key)
			return i
		}
	}
	return -1
}

// evict marks an idle bulkhead as dropped, so that no call can take a
// permit from it any more, and reports whether it did.
func (b *Bulkhead) evict() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.evicted.Load() || b.waiting.Load() != 0 {
		return false
	}
	// Set first: a call that finds the count sealed then knows why.
	b.evicted.Store(true)
	if !b.seal() {
		b.evicted.Store(false)
		return false
	}
	return true
}

// Name returns GroupConfig.Name (the Name of its embedded Config), which
// every key's bulkhead carries too.
func (g *Group) Name() string { return g.cfg.Name }

// Len returns the number of bulkheads the group holds.
func (g *Group) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.m)
}

// Metrics returns the metrics of the bulkhead of key, and false if the group
// holds none for it.
func (g *Group) Metrics(key string) (Metrics, bool) {
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	if e == nil {
		return Metrics{}, false
	}
	return e.b.Metrics(), true
}

// Saturated reports whether the bulkhead of key is saturated (see
// [Bulkhead.Saturated]); false if the group holds none for key.
func (g *Group) Saturated(key string) bool {
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	return e != nil && e.b.Saturated()
}

package bulkhead

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/keyed"
)

// Defaults for the zero fields of [GroupConfig], the same as in
// breaker.GroupConfig.
const (
	// DefaultMaxKeys is the number of keys a [Group] holds at most when
	// GroupConfig.MaxKeys is 0.
	DefaultMaxKeys = 1024
	// DefaultIdleTimeout is how long a Group keeps a bulkhead that no call
	// used, when GroupConfig.IdleTimeout is 0.
	DefaultIdleTimeout = 10 * time.Minute
)

// GroupConfig holds the optional settings of a [Group]. The zero value
// makes fail-fast bulkheads with a fixed limit, holds up to
// [DefaultMaxKeys] keys and drops those idle for [DefaultIdleTimeout].
type GroupConfig struct {
	// Config configures the bulkhead of every key, unless ConfigFor gives
	// the key one of its own. Each key's bulkhead has its own queue,
	// counters and adaptive limit; the hooks are shared and may be called
	// for several keys at once. Its Name names the group, and its OnReject
	// and Observer also get the calls refused for TooManyKeys (the
	// Observer's events carry the key as held, see MaxKeys).
	Config Config

	// ConfigFor, when not nil, returns the Config of key's bulkhead; false
	// means Config. It is called with the caller's key (a long one too)
	// when the key's bulkhead is made (again after an eviction), outside
	// the group's lock, and must not call into the Group. A returned
	// Config with Name "" gets the group's Name, and one with no Observer
	// the group's Observer. An invalid one panics in the call that makes
	// the bulkhead.
	ConfigFor func(key string) (Config, bool)

	// MaxKeys bounds how many bulkheads the group holds; 0 means
	// [DefaultMaxKeys]. Keys are bounded in bytes too: a key longer than
	// 128 bytes is held as "sha256:" followed by the hex SHA-256 of it
	// (71 bytes), so the group's memory is at most MaxKeys × (128 B + a
	// bulkhead) whatever keys its callers send. When a new key arrives at
	// a full group, an idle bulkhead (no call in flight or queued) that
	// has not been used lately is dropped to make room; a busy one never
	// is. A dropped key starts afresh when it comes back. When every
	// bulkhead is busy, the call is refused with a [*FullError] whose
	// TooManyKeys reports true. Must not be negative.
	MaxKeys int

	// IdleTimeout: when a new key arrives, the bulkheads that no call used
	// for this long (and that are not busy) are dropped first, so a group
	// that sees many keys over time does not hold them all until it is
	// full; nothing runs in the background for that. The sweep that looks
	// for them runs at most once per IdleTimeout, so a bulkhead may stay
	// up to about twice IdleTimeout after its last use. 0 means
	// [DefaultIdleTimeout]; resilience.Forever drops none by idleness,
	// only an idle one not used lately when the group is full. Must not be
	// negative.
	IdleTimeout time.Duration

	// Key returns the key of a call; nil means resilience.KeyFrom.
	Key func(ctx context.Context) string
}

// Group is a set of bulkheads, one per key, so that each downstream (host,
// tenant, endpoint) gets its own concurrency limit and a slow one cannot
// take the permits of the others. The key of a call is GroupConfig.Key, by
// default resilience.KeyFrom(ctx): resilience.Transport sets it to the
// request's host, and resilience.WithKey sets it explicitly. Calls without a
// key share the bulkhead of the key "".
//
// Make a Group with [NewGroup]; the zero value is not usable. A Group is a
// resilience.Policy and is safe for concurrent use by many goroutines.
type Group struct {
	max       int
	cfg       Config
	configFor func(string) (Config, bool)
	key       func(context.Context) string // nil: resilience.KeyFrom
	maxKeys   int
	idle      int64
	epoch     time.Time
	tooMany   *FullError // immutable: the error of every call refused for TooManyKeys

	mu    sync.RWMutex
	m     map[string]*groupEntry
	ring  []*groupEntry // the entries, swept by hand to pick one to evict
	hand  int
	swept int64 // time of the last idle sweep; guarded by mu
}

type groupEntry struct {
	key  string
	b    *Bulkhead
	used atomic.Bool // set on use, cleared by the sweeps
	seen int64       // time of the last sweep that found it used; guarded by Group.mu
}

// NewGroup returns a group whose bulkheads admit up to maxConcurrent calls
// each, configured by c (the zero GroupConfig is ready to use). It panics
// if maxConcurrent is less than 1 or if c is invalid.
func NewGroup(maxConcurrent int, c GroupConfig) *Group {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("bulkhead: maxConcurrent %d is less than 1", maxConcurrent))
	}
	c.Config.validate(maxConcurrent)
	switch {
	case c.MaxKeys < 0:
		panic(fmt.Sprintf("bulkhead: negative MaxKeys %d", c.MaxKeys))
	case c.IdleTimeout < 0:
		panic(fmt.Sprintf("bulkhead: negative IdleTimeout %v", c.IdleTimeout))
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Config.Adaptive != nil {
		// Check the algorithm's settings now rather than at the first key.
		if c.Config.Adaptive.NewLimit(maxConcurrent) == nil {
			panic("bulkhead: Adaptive.NewLimit returned nil")
		}
	}
	return &Group{
		max:       maxConcurrent,
		cfg:       c.Config,
		configFor: c.ConfigFor,
		key:       c.Key,
		maxKeys:   c.MaxKeys,
		idle:      int64(c.IdleTimeout),
		epoch:     time.Now(),
		tooMany:   &FullError{tooManyKeys: true},
		m:         make(map[string]*groupEntry),
	}
}

// Do runs op under the bulkhead of the key of the call, as [Bulkhead.Do]
// does, making that bulkhead if needed.
func (g *Group) Do(ctx context.Context, op func(context.Context) error) error {
	var key string
	if g.key == nil { // a direct call: cheaper than one through g.key
		key = resilience.KeyFrom(ctx)
	} else {
		key = g.key(ctx)
	}
	for {
		b := g.get(key)
		if b == nil {
			err := g.tooMany
			if g.cfg.OnReject != nil {
				g.cfg.OnReject(ctx, err)
			}
			if o := g.cfg.Observer; o != nil {
				o.Observe(ctx, resilience.Event{
					Kind: resilience.EventReject, Policy: "bulkhead", Name: g.cfg.Name, Key: keyed.Bound(key),
					Reason: reasonTooManyKeys, Err: err,
				})
			}
			return err
		}
		counted, err := b.shed(ctx)
		if err != nil {
			return err
		}
		s, err := b.acquire(ctx)
		if counted && err != nil {
			b.shedding.Add(-1)
		}
		if err == errEvicted {
			continue // dropped between lookup and acquire: look again
		}
		if err != nil {
			return err
		}
		if counted {
			defer b.shedding.Add(-1)
		}
		return b.run(ctx, op, s)
	}
}

// Get returns the bulkhead of key, making it if needed; it counts as a use
// of the bulkhead. It returns nil only when the group holds MaxKeys busy
// bulkheads and none for key. Calls made through the bulkhead itself take
// its permits as those of [Group.Do] do; one that finds it dropped by the
// group (it was idle) revives it, apart from the group: the group's new
// bulkhead for key does not see its calls.
func (g *Group) Get(key string) *Bulkhead { return g.get(key) }

// get returns the bulkhead of key (held as keyed.Bound(key)), making it if
// needed, or nil when the group is full of busy bulkheads.
func (g *Group) get(callers string) *Bulkhead {
	key := keyed.Bound(callers)
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	if e != nil {
		if !e.used.Load() {
			e.used.Store(true)
		}
		return e.b
	}
	cfg := &g.cfg
	if g.configFor != nil {
		if c, ok := g.configFor(callers); ok { // outside the lock: user code
			c.validate(g.max)
			if c.Name == "" {
				c.Name = g.cfg.Name
			}
			if c.Observer == nil {
				c.Observer = g.cfg.Observer
			}
			cfg = &c
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.m[key]; e != nil {
		e.used.Store(true)
		return e.b
	}
	now := g.now()
	if now-g.swept >= g.idle {
		g.sweep(now)
	}
	i := len(g.ring)
	if i >= g.maxKeys {
		// Make room before making the bulkhead: refusing allocates nothing.
		if i = g.evict(now); i < 0 {
			return nil
		}
	}
	e = &groupEntry{key: key, b: newBulkhead(g.max, cfg, key), seen: now}
	e.used.Store(true)
	if i == len(g.ring) {
		g.ring = append(g.ring, e)
	} else {
		g.ring[i] = e
	}
	g.m[key] = e
	return e.b
}

func (g *Group) now() int64 { return int64(time.Since(g.epoch)) }

// sweep drops the bulkheads unused for IdleTimeout that are idle. g.mu must
// be held.
func (g *Group) sweep(now int64) {
	g.swept = now
	for i := len(g.ring) - 1; i >= 0; i-- {
		e := g.ring[i]
		if e.used.Swap(false) {
			e.seen = now
			continue
		}
		if now-e.seen < g.idle || !e.b.evict() {
			continue
		}
		delete(g.m, e.key)
		last := len(g.ring) - 1
		g.ring[i] = g.ring[last]
		g.ring[last] = nil
		g.ring = g.ring[:last]
	}
	if g.hand >= len(g.ring) {
		g.hand = 0
	}
}

// evict drops an idle bulkhead and returns its index in the ring, or -1 if
// none is idle. It sweeps the ring like the CLOCK page-replacement
// algorithm: an entry used since the last sweep gets a second chance. g.mu
// must be held.
func (g *Group) evict(now int64) int {
	for range 2 * len(g.ring) {
		i := g.hand
		g.hand = (g.hand + 1) % len(g.ring)
		e := g.ring[i]
		if e.used.Load() {
			e.used.Store(false)
			e.seen = now
			continue
		}
		if e.b.evict() {
			delete(g.m, e.key)
			return i
		}
	}
	return -1
}

// revive makes a bulkhead that a Group dropped usable again, apart from
// the group: a call through the bulkhead itself found it dropped.
func (b *Bulkhead) revive() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.evicted.Load() {
		b.unseal() // sealed at evictedMark: no permit is taken
		b.evicted.Store(false)
	}
}

// evict marks an idle bulkhead as dropped, so that no call can take a
// permit from it any more, and reports whether it did.
func (b *Bulkhead) evict() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.evicted.Load() || b.waiting.Load() != 0 {
		return false
	}
	// Set first: a call that finds the shards sealed then knows why.
	b.evicted.Store(true)
	if !b.seal() {
		b.evicted.Store(false)
		return false
	}
	return true
}

// Name returns GroupConfig.Config.Name, which every key's bulkhead carries
// too, unless ConfigFor gives it a name of its own.
func (g *Group) Name() string { return g.cfg.Name }

// Len returns the number of bulkheads the group holds.
func (g *Group) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.m)
}

// Metrics returns the metrics of the bulkhead of key, and false if the group
// holds none for it. It makes no bulkhead and counts no use.
func (g *Group) Metrics(key string) (Metrics, bool) {
	key = keyed.Bound(key)
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	if e == nil {
		return Metrics{}, false
	}
	return e.b.Metrics(), true
}

// Range calls f with each key the group holds (a long one as its hash) and
// the metrics of its bulkhead, until f returns false. It makes no bulkhead
// and counts no use; f runs without the group's lock held, on the
// bulkheads held when Range was called.
func (g *Group) Range(f func(key string, m Metrics) bool) {
	g.mu.RLock()
	es := slices.Clone(g.ring)
	g.mu.RUnlock()
	for _, e := range es {
		if !f(e.key, e.b.Metrics()) {
			return
		}
	}
}

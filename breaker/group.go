package breaker

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// Defaults for the zero fields of [GroupConfig].
const (
	// DefaultMaxKeys is how many breakers a Group keeps at most: the
	// default of MaxKeys in bulkhead.GroupConfig too.
	DefaultMaxKeys = 1024
	// DefaultIdleTimeout is how long a Group keeps a breaker that no
	// call used.
	DefaultIdleTimeout = 10 * time.Minute
)

// GroupConfig configures a [Group]. Every zero field means its documented
// default. [NewGroup] panics on negative values and on a Config (or, for
// the first key that needs it, a ConfigFor result) that [New] would
// reject.
type GroupConfig struct {
	// Config configures the breaker of every key, unless ConfigFor is set.
	Config Config
	// ConfigFor, when set, gives the Config of each key's breaker; it is
	// called once per key when its breaker is made (again after an
	// eviction). It must not call into the Group.
	ConfigFor func(key string) Config
	// MaxKeys is how many breakers the group keeps at most. Zero means
	// DefaultMaxKeys. When a new key comes in with the group full, the
	// breakers unused for longest are dropped first.
	MaxKeys int
	// IdleTimeout: a breaker that no call used for this long is dropped
	// when a new key comes in, so a group that sees many keys over time
	// does not grow without bound. Open breakers are kept until their open
	// duration has passed, forced-open ones while there is room. Zero
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnStateChange, when set, is called for every change of state of the
	// group's breakers, with the same context as Config.OnStateChange and
	// their key (it runs after the per-key Config's own OnStateChange, if
	// any).
	OnStateChange func(ctx context.Context, key string, from, to State)
}

// Group keeps one [Breaker] per key and is itself a resilience.Policy: Do
// runs each call under the breaker of resilience.KeyFrom(ctx), made on
// first use. Behind resilience.Transport, whose key is the request's host,
// one http.Client thus gets a separate breaker per downstream host, and a
// failing host does not cut off the others.
//
// Calls whose context carries no key (KeyFrom returns "") share the
// breaker of the key "": they are protected together, as one dependency.
// Set a key with resilience.WithKey to keep them apart.
//
// Memory stays bounded: at most MaxKeys breakers are kept (a breaker
// takes 2 to 5 KiB, more with a count window of thousands of calls), and
// breakers idle for IdleTimeout are dropped when new keys come in; nothing
// runs in the background for that. A dropped breaker starts over, closed, when its
// key comes back. Call [Group.Close] when done if the Config has a
// HealthCheck.
//
// A Group is safe for concurrent use by many goroutines.
type Group struct {
	cfg      GroupConfig
	base     settings // validated Config, when ConfigFor is nil
	maxKeys  int
	idle     int64
	epoch    time.Time
	m        sync.Map // string -> *entry
	mu       sync.Mutex
	n        int   // entries in m; guarded by mu
	swept    int64 // time of the last idle sweep; guarded by mu
	isClosed bool  // guarded by mu
}

type entry struct {
	b    *Breaker
	used atomic.Bool // a call used it since the last sweep
	seen int64       // time of the last sweep that found it used; guarded by Group.mu
}

// NewGroup returns an empty Group configured by c. It panics with a
// "breaker: ..." message when c is invalid.
func NewGroup(c GroupConfig) *Group {
	if c.MaxKeys < 0 || c.IdleTimeout < 0 {
		panic("breaker: negative MaxKeys or IdleTimeout")
	}
	g := &Group{cfg: c, maxKeys: c.MaxKeys, idle: int64(c.IdleTimeout), epoch: time.Now()}
	if g.maxKeys == 0 {
		g.maxKeys = DefaultMaxKeys
	}
	if g.idle == 0 {
		g.idle = int64(DefaultIdleTimeout)
	}
	if c.ConfigFor == nil {
		g.base = c.Config.settings()
	}
	return g
}

// Name returns GroupConfig.Config.Name: the name of the group, which its
// breakers carry unless ConfigFor gives them one of their own.
func (g *Group) Name() string { return g.cfg.Config.Name }

// Do runs op under the breaker of resilience.KeyFrom(ctx), as
// [Breaker.Do] does.
func (g *Group) Do(ctx context.Context, op func(context.Context) error) error {
	return g.Get(resilience.KeyFrom(ctx)).Do(ctx, op)
}

// Get returns the breaker of key, making it if needed. Get counts as a use
// of the breaker for eviction.
func (g *Group) Get(key string) *Breaker {
	v, ok := g.m.Load(key)
	if !ok {
		v = g.add(key)
	}
	e := v.(*entry)
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.b
}

// Lookup returns the breaker of key if the group has one, without making
// one or counting a use.
func (g *Group) Lookup(key string) (*Breaker, bool) {
	if v, ok := g.m.Load(key); ok {
		return v.(*entry).b, true
	}
	return nil, false
}

// Metrics returns the metrics of the breaker of key, and false if the
// group holds none for it, as bulkhead.Group.Metrics does. Like Lookup, it
// makes no breaker and counts no use.
func (g *Group) Metrics(key string) (Metrics, bool) {
	b, ok := g.Lookup(key)
	if !ok {
		return Metrics{}, false
	}
	return b.Metrics(), true
}

// Len returns how many breakers the group holds.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Range calls f for each key and breaker of the group until f returns
// false, as sync.Map.Range does.
func (g *Group) Range(f func(key string, b *Breaker) bool) {
	g.m.Range(func(k, v any) bool { return f(k.(string), v.(*entry).b) })
}

// Close drops every breaker and stops their health checks (see
// [Breaker.Close]). The group stays usable: breakers made afterwards have
// no health-check goroutine. Close is idempotent.
func (g *Group) Close() {
	g.mu.Lock()
	g.isClosed = true
	var drop []*Breaker
	g.m.Range(func(k, v any) bool {
		g.m.Delete(k)
		drop = append(drop, v.(*entry).b)
		return true
	})
	g.n = 0
	g.mu.Unlock()
	for _, b := range drop {
		b.Close()
	}
}

func (g *Group) now() int64 { return int64(time.Since(g.epoch)) }

// add makes the entry of key, evicting others first when needed.
func (g *Group) add(key string) *entry {
	var cfg settings
	if g.cfg.ConfigFor != nil {
		cfg = g.cfg.ConfigFor(key).settings() // outside the lock: user code
	}
	g.mu.Lock()
	if v, ok := g.m.Load(key); ok {
		g.mu.Unlock()
		return v.(*entry)
	}
	now := g.now()
	var drop []*Breaker
	if g.n >= g.maxKeys || now-g.swept >= g.idle {
		drop = g.sweep(now)
	}
	if g.cfg.ConfigFor == nil {
		cfg = g.base
	}
	if cfg.name == "" {
		cfg.name = g.cfg.Config.Name
	}
	if f := g.cfg.OnStateChange; f != nil {
		own := cfg.onStateChange
		cfg.onStateChange = func(ctx context.Context, from, to State) {
			if own != nil {
				own(ctx, from, to)
			}
			f(ctx, key, from, to)
		}
	}
	e := &entry{b: newBreaker(cfg, key, true), seen: now}
	e.used.Store(true)
	if g.isClosed {
		e.b.Close()
	}
	g.m.Store(key, e)
	g.n++
	g.mu.Unlock()
	for _, b := range drop {
		b.Close()
	}
	return e
}

// sweep drops idle breakers and, when the group is still full, the ones
// unused for longest, down to 7/8 of MaxKeys, so that the next evictions
// wait for a while. g.mu is held; the dropped breakers are returned to be
// closed outside the lock.
func (g *Group) sweep(now int64) []*Breaker {
	g.swept = now
	type cand struct {
		key  string
		e    *entry
		keep bool // open or forced open: evict last
	}
	var cands []cand
	var drop []*Breaker
	g.m.Range(func(k, v any) bool {
		e := v.(*entry)
		if e.used.Swap(false) {
			e.seen = now
		}
		keep := e.b.holding()
		if !keep && now-e.seen >= g.idle {
			g.m.Delete(k)
			g.n--
			drop = append(drop, e.b)
			return true
		}
		cands = append(cands, cand{k.(string), e, keep})
		return true
	})
	if g.n < g.maxKeys {
		return drop
	}
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.keep != b.keep:
			if a.keep {
				return 1
			}
			return -1
		case a.e.seen < b.e.seen:
			return -1
		case a.e.seen > b.e.seen:
			return 1
		}
		return 0
	})
	target := g.maxKeys - max(g.maxKeys/8, 1)
	for _, c := range cands {
		if g.n <= target {
			break
		}
		g.m.Delete(c.key)
		g.n--
		drop = append(drop, c.e.b)
	}
	return drop
}

// holding reports whether dropping the breaker would lose a decision that
// is still in force: it is forced open, or open with time left.
func (b *Breaker) holding() bool {
	switch b.State() {
	case ForcedOpen:
		return true
	case Open:
		return b.openUntil.Load() > b.now()
	}
	return false
}

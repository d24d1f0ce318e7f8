package breaker

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/keyed"
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
	// Config configures the breaker of every key, unless ConfigFor gives
	// the key one of its own. Its Name names the group. Its Observer gets
	// the events of every key's breaker, with the key as held (see
	// MaxKeys) in Event.Key, and the calls refused for too many keys.
	Config Config
	// ConfigFor, when not nil, returns the Config of key's breaker; false
	// means Config. It is called with the caller's key (a long one
	// too) when the key's breaker is made (again after an eviction),
	// outside the group's lock, and must not call into the Group. A
	// returned Config with Name "" gets the group's Name, and one with no
	// Observer the group's Observer.
	ConfigFor func(key string) (Config, bool)
	// MaxKeys bounds the breakers the group holds; zero means
	// DefaultMaxKeys. Keys are bounded in bytes too: a key longer than
	// 128 bytes is held as "sha256:" followed by the hex SHA-256 of it
	// (71 bytes), so the group's memory is at most MaxKeys × (128 B + a
	// breaker of 2 to 5 KiB) whatever keys its callers send. When a new key
	// comes in with the group full, the idle breakers unused for longest
	// are dropped first; a busy breaker — with a call of Do in flight, open
	// before its open duration has passed, or forced open — never is.
	// When all MaxKeys breakers are busy, the new key's call is refused
	// with a [*TooManyKeysError] (matching [ErrTooManyKeys]).
	MaxKeys int
	// IdleTimeout: when a new key comes in, the breakers that no call used
	// for this long (and that are not busy) are dropped first, so a group
	// that sees many keys over time does not grow without bound; nothing
	// runs in the background for that. The sweep that looks for them runs
	// at most once per IdleTimeout, so a breaker may stay up to about
	// twice IdleTimeout after its last use. Zero means DefaultIdleTimeout;
	// resilience.Forever drops none by idleness, only the least recently
	// used idle one when the group is full.
	IdleTimeout time.Duration
	// Key returns the key of a call; nil means resilience.KeyFrom.
	Key func(ctx context.Context) string
	// OnStateChange, when set, is called for every change of state of the
	// group's breakers, with the same context as Config.OnStateChange and
	// their key as held (a long one as its hash; see MaxKeys) (it runs after the per-key Config's own OnStateChange, if
	// any).
	OnStateChange func(ctx context.Context, key string, from, to State)
}

// Group keeps one [Breaker] per key and is itself a resilience.Policy: Do
// runs each call under the breaker of its key (GroupConfig.Key, by default
// resilience.KeyFrom(ctx)), made on first use. Behind
// resilience.Transport, whose key is the request's host, one http.Client
// thus gets a separate breaker per downstream host, and a failing host
// does not cut off the others.
//
// Calls whose context carries no key (KeyFrom returns "") share the
// breaker of the key "": they are protected together, as one dependency.
// Set a key with resilience.WithKey to keep them apart.
//
// Memory stays bounded: at most MaxKeys breakers, under keys of at most
// 128 bytes (see GroupConfig.MaxKeys), and breakers idle for IdleTimeout
// are dropped when new keys come in. A dropped breaker starts over,
// closed, when its key comes back. Call [Group.Close] when done if the
// Config has a HealthCheck.
//
// A Group is safe for concurrent use by many goroutines.
type Group struct {
	cfg      GroupConfig
	base     settings                     // validated Config
	key      func(context.Context) string // nil: resilience.KeyFrom
	maxKeys  int
	idle     int64
	epoch    time.Time
	tooMany  *TooManyKeysError // immutable: the error of every refused call
	m        sync.Map          // string -> *entry
	mu       sync.Mutex
	n        int   // entries in m; guarded by mu
	swept    int64 // time of the last idle sweep; guarded by mu
	isClosed bool  // guarded by mu
}

type entry struct {
	b       *Breaker
	used    atomic.Bool // a call used it since the last sweep
	dropped atomic.Bool // set while the sweep drops it, and for good once dropped
	seen    int64       // time of the last sweep that found it used; guarded by Group.mu
}

// NewGroup returns an empty Group configured by c. It panics with a
// "breaker: ..." message when c is invalid.
func NewGroup(c GroupConfig) *Group {
	if c.MaxKeys < 0 || c.IdleTimeout < 0 {
		panic("breaker: negative MaxKeys or IdleTimeout")
	}
	g := &Group{cfg: c, key: c.Key, maxKeys: c.MaxKeys, idle: int64(c.IdleTimeout), epoch: time.Now()}
	if g.maxKeys == 0 {
		g.maxKeys = DefaultMaxKeys
	}
	if g.idle == 0 {
		g.idle = int64(DefaultIdleTimeout)
	}
	g.tooMany = &TooManyKeysError{maxKeys: g.maxKeys}
	g.base = c.Config.settings()
	return g
}

// Name returns GroupConfig.Config.Name: the name of the group, which its
// breakers carry unless ConfigFor gives them one of their own.
func (g *Group) Name() string { return g.cfg.Config.Name }

// Do runs op under the breaker of the call's key, as [Breaker.Do] does.
// When the group holds MaxKeys busy breakers and none for this key, it
// returns a [*TooManyKeysError] without calling op.
func (g *Group) Do(ctx context.Context, op func(context.Context) error) error {
	var key string
	if g.key == nil { // a direct call: cheaper than one through g.key
		key = resilience.KeyFrom(ctx)
	} else {
		key = g.key(ctx)
	}
	var e *entry
	var c *atomic.Int64
	for {
		if e = g.entry(key); e == nil {
			return g.refuse(ctx, key)
		}
		// Announce the call, then check that the entry was not dropped:
		// the sweep marks an entry dropped before it reads the calls in
		// flight, so either it sees this one or this call sees the mark.
		c = e.b.calls.enter(inFlight)
		if !e.dropped.Load() {
			break
		}
		c.Add(-1)
		runtime.Gosched() // the sweep holds the lock; let it finish
	}
	defer c.Add(-1)
	return e.b.Do(ctx, op)
}

// refuse returns the error of a call of key that the group, full of busy
// breakers, refused, and reports it to the Observer.
func (g *Group) refuse(ctx context.Context, key string) error {
	if o := g.base.observer; o != nil {
		o.Observe(ctx, resilience.Event{
			Kind: resilience.EventReject, Policy: "breaker", Name: g.cfg.Config.Name, Key: keyed.Bound(key),
			Reason: "too_many_keys", Err: g.tooMany,
		})
	}
	return g.tooMany
}

// Get returns the breaker of key, making it if needed; it counts as a use
// of the breaker. It returns nil only when the group holds MaxKeys busy
// breakers and none for key. Calls made through the breaker itself (not
// through [Group.Do]) do not keep it busy: the group may drop it while
// they run, and they go on counting on it, apart from the group.
func (g *Group) Get(key string) *Breaker {
	if e := g.entry(key); e != nil {
		return e.b
	}
	return nil
}

// entry returns the entry of key (held as keyed.Bound(key)), making it if
// needed, and marks it used; nil when the group is full of busy breakers.
func (g *Group) entry(key string) *entry {
	held := keyed.Bound(key)
	v, ok := g.m.Load(held)
	if !ok {
		if v = g.add(key, held); v == nil {
			return nil
		}
	}
	e := v.(*entry)
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// Metrics returns the metrics of the breaker of key, and false if the
// group holds none for it. It makes no breaker and counts no use.
func (g *Group) Metrics(key string) (Metrics, bool) {
	if v, ok := g.m.Load(keyed.Bound(key)); ok {
		return v.(*entry).b.Metrics(), true
	}
	return Metrics{}, false
}

// Len returns how many breakers the group holds.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Range calls f with each key the group holds (a long one as its hash) and
// the metrics of its breaker, until f returns false, as sync.Map.Range
// does. It makes no breaker and counts no use.
func (g *Group) Range(f func(key string, m Metrics) bool) {
	g.m.Range(func(k, v any) bool { return f(k.(string), v.(*entry).b.Metrics()) })
}

// Close drops every breaker and stops their health checks (see
// [Breaker.Close]). The group stays usable: breakers made afterwards have
// no health-check goroutine. Close is idempotent.
func (g *Group) Close() {
	g.mu.Lock()
	g.isClosed = true
	var drop []*Breaker
	g.m.Range(func(k, v any) bool {
		e := v.(*entry)
		e.dropped.Store(true) // a call about to start looks again
		g.m.Delete(k)
		drop = append(drop, e.b)
		return true
	})
	g.n = 0
	g.mu.Unlock()
	for _, b := range drop {
		b.Close()
	}
}

func (g *Group) now() int64 { return int64(time.Since(g.epoch)) }

// add makes the entry of the caller's key, held as key, evicting others
// first when needed.
func (g *Group) add(callers, key string) any {
	cfg, ownCfg := g.base, false
	if g.cfg.ConfigFor != nil {
		var c Config
		if c, ownCfg = g.cfg.ConfigFor(callers); ownCfg { // outside the lock: user code
			cfg = c.settings()
		}
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
	if g.n >= g.maxKeys {
		g.mu.Unlock()
		closeAll(drop)
		return nil // every breaker is busy
	}
	if ownCfg && cfg.name == "" {
		cfg.name = g.cfg.Config.Name
	}
	if ownCfg && cfg.observer == nil {
		cfg.observer = g.base.observer
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
	closeAll(drop)
	return e
}

func closeAll(bs []*Breaker) {
	for _, b := range bs {
		b.Close()
	}
}

// sweep drops idle breakers and, when the group is still full, the idle
// ones unused for longest, down to 7/8 of MaxKeys, so that the next
// evictions wait for a while. It never drops a busy breaker (see
// [Group.drop]). g.mu is held; the dropped breakers are returned to be
// closed outside the lock.
func (g *Group) sweep(now int64) []*Breaker {
	g.swept = now
	type cand struct {
		key string
		e   *entry
	}
	var cands []cand
	var drop []*Breaker
	g.m.Range(func(k, v any) bool {
		e := v.(*entry)
		if e.used.Swap(false) {
			e.seen = now
		}
		if now-e.seen >= g.idle && g.drop(k, e) {
			drop = append(drop, e.b)
			return true
		}
		if !e.b.holding() {
			cands = append(cands, cand{k.(string), e})
		}
		return true
	})
	if g.n < g.maxKeys {
		return drop
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.e.seen, b.e.seen) })
	target := g.maxKeys - max(g.maxKeys/8, 1)
	for _, c := range cands {
		if g.n <= target {
			break
		}
		if g.drop(c.key, c.e) {
			drop = append(drop, c.e.b)
		}
	}
	return drop
}

// drop removes the entry of key unless its breaker is busy: a call of
// Group.Do in flight, or a decision still in force (holding). It reports
// whether it did. g.mu is held.
func (g *Group) drop(key any, e *entry) bool {
	e.dropped.Store(true)
	if e.b.holding() || e.b.calls.sum(inFlight) != 0 {
		e.dropped.Store(false)
		return false
	}
	g.m.Delete(key)
	g.n--
	return true
}

// holding reports whether dropping the breaker would lose a decision that
// is still in force: it is forced open, or open with time left.
func (b *Breaker) holding() bool {
	switch b.State() {
	case ForcedOpen:
		return true
	case Open:
		return b.opened.Load().until > b.now()
	}
	return false
}

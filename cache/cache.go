package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/resiliencekit/resilience"
)

// Cache is a bounded read-through cache of values of type V by keys of type
// K. Make one with [New]; the zero value is not usable. A Cache is safe for
// concurrent use by many goroutines.
//
// A Cache owns the goroutines that run its loads (and its store's
// maintenance); [Cache.Close] cancels the loads and waits for all of them.
type Cache[K comparable, V any] struct {
	name  string
	load  func(context.Context, K) (V, error)
	s     settings
	store *otter.Cache[K, *entry[V]]

	// The clock: Unix nanoseconds read through the monotonic clock, which
	// costs one clock read instead of two.
	base     time.Time
	baseUnix int64

	seed   maphash.Seed
	shards []shard[K, V]

	bgMu   sync.Mutex
	closed bool
	bg     sync.WaitGroup // loads and store maintenance

	// The errors of a load given up on at LoadTimeout and of a Get
	// refused while the key's loads are stuck, made once.
	errGaveUp, errStuck error

	hits, stale                          *counter
	misses, loads, loadErrors, evictions atomic.Uint64
	inFlight, stuck                      atomic.Int64

	obs       resilience.Observer // nil: none
	staleAges staleAges
}

// shard holds the loads in flight for the keys that hash to it.
type shard[K comparable, V any] struct {
	mu      sync.Mutex
	flights map[K]*call[V]
	stuck   map[K]int // loads given up at LoadTimeout whose loader has not returned; nil when none
	_       [32]byte  // keep neighbouring shards' locks off one cache line
}

const numShards = 64

// New returns a cache that calls load to fetch the value of a key it does
// not hold. The loader runs with a context detached from the caller that
// needed it (its values are kept, its cancellation is not), bounded by
// cfg.LoadTimeout and cancelled when no caller waits for the result any
// more. It returns the value, or an error: [ErrNotFound] (possibly wrapped)
// for a key the source does not have, which the cache remembers for
// cfg.NegativeTTL, or any other error, which the cache does not keep. See
// [Config] for the rest.
//
// New panics if load is nil or cfg has a field out of range.
func New[K comparable, V any](load func(ctx context.Context, key K) (V, error), cfg Config) *Cache[K, V] {
	if load == nil {
		panic("cache: nil loader")
	}
	c := &Cache[K, V]{
		name:   cfg.Name,
		load:   load,
		s:      cfg.settings(),
		base:   time.Now(),
		seed:   maphash.MakeSeed(),
		shards: make([]shard[K, V], numShards),
		hits:   newCounter(),
		stale:  newCounter(),
		obs:    cfg.Observer,
	}
	c.baseUnix = c.base.UnixNano()
	c.errGaveUp = &loadTimeoutError{after: c.s.loadTimeout}
	c.errStuck = &loadTimeoutError{after: c.s.loadTimeout, stuck: true}
	for i := range c.shards {
		c.shards[i].flights = make(map[K]*call[V])
	}
	c.store = otter.Must(&otter.Options[K, *entry[V]]{
		MaximumSize:     c.s.maxEntries,
		InitialCapacity: min(c.s.maxEntries, 1024),
		OnAtomicDeletion: func(e otter.DeletionEvent[K, *entry[V]]) {
			if e.Cause == otter.CauseOverflow {
				c.evictions.Add(1)
			}
		},
		Executor: c.exec,
	})
	return c
}

// now returns the time in Unix nanoseconds.
func (c *Cache[K, V]) now() int64 {
	return c.baseUnix + int64(time.Since(c.base))
}

func (c *Cache[K, V]) shard(key K) *shard[K, V] {
	return &c.shards[maphash.Comparable(c.seed, key)%numShards]
}

// track registers one background goroutine, or reports false after Close.
func (c *Cache[K, V]) track() bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		return false
	}
	c.bg.Add(1)
	return true
}

// exec runs the store's maintenance tasks on goroutines that Close waits
// for; after Close it runs them on the calling goroutine.
func (c *Cache[K, V]) exec(fn func()) {
	if !c.track() {
		fn()
		return
	}
	go func() {
		defer c.bg.Done()
		fn()
	}()
}

// Get returns the value of key: the cached one while it is fresh, a stale
// one where the Config allows it, or else the result of a load (joining the
// load already in flight for key, if any). It returns ErrNotFound (as the
// loader wrapped it) for a key remembered as not found, the loader's error
// when a load fails and no stale value may be served (an error matching
// ErrLoadTimeout when the load did not finish within LoadTimeout), and
// ctx.Err() when ctx ends first: the caller then leaves at once, and the
// load goes on for the other callers waiting for it (or is cancelled if
// there are none). No Get waits longer than LoadTimeout for a load, even
// one whose loader ignores its context.
//
// A hit makes no allocation. Use GetEntry to learn whether the value was
// stale.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	if e, ok := c.store.GetIfPresent(key); ok && c.now() < e.refreshAt {
		c.hits.inc()
		if c.obs != nil {
			c.observe(ctx, resilience.EventCacheHit, "", nil)
		}
		return e.value, e.err
	}
	r, err := c.get(ctx, key)
	return r.Value, err
}

// GetEntry is Get with the facts about the answer: when the value was
// loaded, and whether it was served stale and why (see [Entry]).
func (c *Cache[K, V]) GetEntry(ctx context.Context, key K) (Entry[V], error) {
	if e, ok := c.store.GetIfPresent(key); ok {
		if now := c.now(); now < e.refreshAt {
			c.hits.inc()
			if c.obs != nil {
				c.observe(ctx, resilience.EventCacheHit, "", nil)
			}
			if e.err != nil {
				return Entry[V]{}, e.err
			}
			return e.public(now, false, nil), nil
		}
	}
	return c.get(ctx, key)
}

// get is the path of every Get that is not a plain hit.
func (c *Cache[K, V]) get(ctx context.Context, key K) (Entry[V], error) {
	e, ok := c.store.GetIfPresent(key)
	now := c.now()
	var patience time.Duration // how long to wait for a load before serving e stale; 0: no bound
	if ok {
		switch {
		case now < e.refreshAt:
			c.hit(ctx)
			if e.err != nil {
				return Entry[V]{}, e.err
			}
			return e.public(now, false, nil), nil
		case now < e.freshUntil: // refresh ahead (never a negative entry)
			c.refresh(ctx, key, e, now)
			c.hit(ctx)
			return e.public(now, false, nil), nil
		case now < e.staleUntil: // stale while revalidate
			c.refresh(ctx, key, e, now)
			return c.servedStale(ctx, e, now, ReasonRefresh, nil), nil
		case e.err == nil && now < e.errorUntil: // stale if error (or slow)
			switch slow := c.s.staleIfSlow; {
			case slow == 0: // StaleIfSlow: None
				c.refresh(ctx, key, e, now)
				return c.servedStale(ctx, e, now, ReasonRefresh, nil), nil
			case slow < c.s.loadTimeout && addSat(now, int64(slow)) < e.errorUntil:
				patience = slow
			}
		}
		// Past stale-while-revalidate: wait for a load, and serve e only if
		// it fails (or takes longer than patience) and stale-if-error
		// allows it.
	}
	for {
		var w waited[V]
		if patience > 0 {
			w = c.waitStale(ctx, key, patience)
		} else {
			w = c.wait(ctx, key, nil)
		}
		switch {
		case w.fresh != nil:
			c.hit(ctx)
			if w.fresh.err != nil {
				return Entry[V]{}, w.fresh.err
			}
			return w.fresh.public(c.now(), false, nil), nil
		case w.slow:
			if r, ok := c.staleValue(ctx, key, nil); ok {
				return r, nil
			}
			patience = 0 // nothing to serve any more: wait for the load after all
			continue
		case w.ctxDone:
			c.miss(ctx)
			return Entry[V]{}, w.err
		}
		err := w.err
		if err == nil {
			err = w.cl.err
		}
		if err == nil {
			c.miss(ctx)
			now := c.now()
			return Entry[V]{Value: w.cl.val, LoadedAt: time.Unix(0, w.cl.loadedAt), Age: time.Duration(now - w.cl.loadedAt)}, nil
		}
		if pe, ok := err.(*PanicError); ok {
			err = pe.clone() // the callers of one load each get their own
		}
		return c.fallback(ctx, key, err)
	}
}

// waitStale is wait for a caller that takes the stale value after
// patience.
func (c *Cache[K, V]) waitStale(ctx context.Context, key K, patience time.Duration) waited[V] {
	t := time.NewTimer(patience)
	defer t.Stop()
	return c.wait(ctx, key, t.C)
}

// fallback answers a Get whose load failed with err: with the value the
// cache holds for key if stale-if-error allows it, else with err.
func (c *Cache[K, V]) fallback(ctx context.Context, key K, err error) (Entry[V], error) {
	if !errors.Is(err, ErrNotFound) {
		if r, ok := c.staleValue(ctx, key, err); ok {
			return r, nil
		}
	}
	c.miss(ctx)
	return Entry[V]{}, err
}

// staleValue answers a Get with the value the cache holds for key, if
// stale-if-error allows it: fresh (a Set or a load stored it meanwhile), or
// stale in place of err (nil when the load was only slow).
func (c *Cache[K, V]) staleValue(ctx context.Context, key K, err error) (Entry[V], bool) {
	e, ok := c.store.GetIfPresent(key)
	if !ok || e.err != nil {
		return Entry[V]{}, false
	}
	now := c.now()
	if now < e.freshUntil {
		c.hit(ctx)
		return e.public(now, false, nil), true
	}
	if now < e.errorUntil {
		reason := ReasonLoadFailed
		if err == nil {
			reason = ReasonSlow
		}
		return c.servedStale(ctx, e, now, reason, err), true
	}
	return Entry[V]{}, false
}

// hit counts a Get answered with a fresh entry (or a remembered
// not-found), and reports it.
func (c *Cache[K, V]) hit(ctx context.Context) {
	c.hits.inc()
	if c.obs != nil {
		c.observe(ctx, resilience.EventCacheHit, "", nil)
	}
}

// miss counts a Get answered by a load, and reports it.
func (c *Cache[K, V]) miss(ctx context.Context) {
	c.misses.Add(1)
	if c.obs != nil {
		c.observe(ctx, resilience.EventCacheMiss, "", nil)
	}
}

// servedStale counts a Get answered at now with e, past its TTL, for
// reason (in place of err, when the load failed), notes the value's age
// for StaleAge, reports it, and returns the answer.
func (c *Cache[K, V]) servedStale(ctx context.Context, e *entry[V], now int64, reason string, err error) Entry[V] {
	c.stale.inc()
	c.staleAges.note(now, now-e.loadedAt)
	if c.obs != nil {
		c.observe(ctx, resilience.EventCacheStale, reason, err)
	}
	return e.public(now, true, err)
}

// observe hands the Observer, which is not nil, an event of kind.
func (c *Cache[K, V]) observe(ctx context.Context, kind resilience.EventKind, reason string, err error) {
	c.obs.Observe(ctx, resilience.Event{Kind: kind, Policy: "cache", Name: c.name, Reason: reason, Err: err})
}

// Set stores value as the fresh value of key, loaded now. A load of key in
// flight still answers the callers waiting for it, but its result is not
// stored over value.
func (c *Cache[K, V]) Set(key K, value V) {
	sh := c.shard(key)
	sh.mu.Lock()
	c.store.Set(key, positive(&c.s, value, c.now()))
	if cl := sh.flights[key]; cl != nil {
		cl.noStore = true
	}
	sh.mu.Unlock()
}

// Delete drops key from the cache. A load of key in flight still answers
// the callers waiting for it, but its result is not stored, so an
// invalidation is never undone by a load that started before it.
func (c *Cache[K, V]) Delete(key K) {
	sh := c.shard(key)
	sh.mu.Lock()
	c.store.Invalidate(key)
	if cl := sh.flights[key]; cl != nil {
		cl.noStore = true
	}
	sh.mu.Unlock()
}

// Purge drops every key, and keeps the loads in flight from storing their
// results.
func (c *Cache[K, V]) Purge() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.flights {
			cl.noStore = true
		}
		sh.mu.Unlock()
	}
	c.store.InvalidateAll()
}

// Len returns the number of keys the cache holds, not-found results
// included, after finishing any pending eviction.
func (c *Cache[K, V]) Len() int {
	c.store.CleanUp()
	return c.store.EstimatedSize()
}

// Name returns Config.Name: the name of the cache for telemetry.
func (c *Cache[K, V]) Name() string { return c.name }

// Metrics returns the counters of the cache. The counters are read one by
// one while the cache runs, so they are not an atomic snapshot.
func (c *Cache[K, V]) Metrics() Metrics {
	return Metrics{
		Hits:          c.hits.load(),
		Misses:        c.misses.Load(),
		StaleServed:   c.stale.load(),
		Loads:         c.loads.Load(),
		LoadErrors:    c.loadErrors.Load(),
		Evictions:     c.evictions.Load(),
		LoadsInFlight: c.inFlight.Load(),
		LoadsStuck:    c.stuck.Load() + c.overdueLoads(),
	}
}

// overdueLoads counts the loads in flight past their LoadTimeout that no
// Get has given up on yet.
func (c *Cache[K, V]) overdueLoads() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.flights {
			if c.overdue(cl) {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// Close cancels the loads in flight (their callers get the loader's
// answer; a failure then also matches ErrClosed) and waits until every
// goroutine of the cache has returned: a loader that ignores its context
// keeps Close waiting until it returns. Afterwards the cache still answers from the values it
// holds, fresh or stale as the Config allows, but starts no load: a Get that
// needs one fails with ErrClosed, or is served stale under StaleIfError.
// Close may be called more than once.
func (c *Cache[K, V]) Close() {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.flights {
			cl.closing = true
			cl.cancel()
		}
		sh.mu.Unlock()
	}
	c.bg.Wait()
}

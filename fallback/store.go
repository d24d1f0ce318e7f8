package fallback

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/keyed"
)

// lru holds the good values of a Fallback with Stale: at most maxKeys of
// them and maxBytes bytes (as their sizes say), the least recently stored
// or used dropped first. One mutex guards it; storing the value of a key
// already held allocates nothing. (An otter cache, as package cache uses,
// would allocate a node per update and needs a Close for its maintenance
// goroutines; a map and a list are all this needs.)
type lru[V any] struct {
	mu       sync.Mutex
	m        map[string]*entry[V]
	root     entry[V] // root.next is the most recent, root.prev the least
	maxKeys  int
	maxBytes int64
	bytes    int64
	stored   uint64
	evicted  uint64
}

type entry[V any] struct {
	key        string
	v          V
	at         time.Time // when it was stored
	size       int64
	prev, next *entry[V]
}

func newLRU[V any](maxKeys int, maxBytes int64) *lru[V] {
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if maxBytes == 0 {
		maxBytes = math.MaxInt64
	}
	l := &lru[V]{m: make(map[string]*entry[V]), maxKeys: maxKeys, maxBytes: maxBytes}
	l.root.prev, l.root.next = &l.root, &l.root
	return l
}

// put stores v under key (already bounded), stored at at, of size bytes.
// A value larger than the whole bound is not stored; the key keeps the
// value it had, as when a response's body is over MaxBody: an older good
// value is still a good one, and says its age.
func (l *lru[V]) put(key string, v V, at time.Time, size int64) {
	if size > l.maxBytes {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	l.stored++
	if e != nil {
		l.bytes += size - e.size
		e.v, e.at, e.size = v, at, size
		l.unlink(e)
	} else {
		e = &entry[V]{key: key, v: v, at: at, size: size}
		l.m[key] = e
		l.bytes += size
	}
	l.pushFront(e)
	for len(l.m) > l.maxKeys || l.bytes > l.maxBytes {
		l.remove(l.root.prev) // never e: e alone fits
		l.evicted++
	}
}

// get returns the value of key and when it was stored, if it has one no
// older than ttl at now; it makes it the most recently used. A value that
// is too old is dropped.
func (l *lru[V]) get(key string, now time.Time, ttl time.Duration) (v V, at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return v, at, false
	}
	if ttl != resilience.Forever && now.Sub(e.at) > ttl {
		l.remove(e)
		return v, at, false
	}
	l.unlink(e)
	l.pushFront(e)
	return e.v, e.at, true
}

func (l *lru[V]) remove(e *entry[V]) {
	l.unlink(e)
	delete(l.m, e.key)
	l.bytes -= e.size
}

func (l *lru[V]) unlink(e *entry[V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (l *lru[V]) pushFront(e *entry[V]) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
}

func (l *lru[V]) metrics(m *Metrics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m.Stored, m.Evicted, m.Keys, m.Bytes = l.stored, l.evicted, len(l.m), l.bytes
}

// valueStore remembers the values of New's calls: Result[T] of each call
// whose op succeeded, under the call's key.
type valueStore[T any] struct {
	lru *lru[T]
	ttl time.Duration
	key func(context.Context) string
}

func newValueStore[T any](ttl time.Duration, maxKeys int, key func(context.Context) string) *valueStore[T] {
	return &valueStore[T]{lru: newLRU[T](maxKeys, 0), ttl: ttl, key: key}
}

func (s *valueStore[T]) remember(ctx context.Context) {
	v, ok := resilience.Result[T](ctx)
	if !ok {
		return // plain Policy.Do, or Do of another type: no value to remember
	}
	k := keyed.Bound(s.key(ctx))
	s.lru.put(k, v, time.Now(), int64(len(k)))
}

func (s *valueStore[T]) recall(ctx context.Context) (T, bool) {
	v, _, ok := s.lru.get(keyed.Bound(s.key(ctx)), time.Now(), s.ttl)
	return v, ok
}

func (s *valueStore[T]) metrics(m *Metrics) { s.lru.metrics(m) }

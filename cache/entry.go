package cache

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Entry is what [Cache.GetEntry] returns: a value with its age, and whether
// it was served stale.
type Entry[V any] struct {
	// Value is the cached value.
	Value V
	// LoadedAt is when the value was loaded from the source (or given to
	// Set). A loader that took the value from another cache level can move
	// it back with ReportLoadedAt.
	LoadedAt time.Time
	// Age is how long before the answer the value was loaded.
	Age time.Duration
	// Stale reports that the value is past its TTL: it was served under
	// StaleWhileRevalidate (a background reload was started), under
	// StaleIfError (then Err is set), or under StaleIfSlow (the load it did
	// not wait for goes on; Err is nil).
	Stale bool
	// Err is the error of the failed load that made the cache serve this
	// stale value under StaleIfError (one matching ErrLoadTimeout when the
	// load did not finish within LoadTimeout), and nil otherwise.
	Err error
}

// entry is what the store holds for a key. It never changes once stored: a
// reload stores a new one. All times are Unix nanoseconds.
type entry[V any] struct {
	value      V
	err        error // the not-found error of a negative entry, nil otherwise
	loadedAt   int64
	refreshAt  int64 // reads before this are plain hits; at or after it, the slow path decides
	freshUntil int64
	staleUntil int64 // end of stale-while-revalidate
	errorUntil int64 // end of stale-if-error
	end        int64 // past this the entry is as good as absent

	// refreshing is the LoadTimeout (Unix nanoseconds) of the background
	// reload of this entry in flight, 0 when there is none, MaxInt64 while a
	// Get starts one.
	refreshing atomic.Int64
}

// addSat adds two non-negative int64s, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// positive returns the entry of value v loaded at loadedAt.
func positive[V any](s *settings, v V, loadedAt int64) *entry[V] {
	ttl, ahead := s.ttl, s.refreshAhead
	if s.jitter > 0 {
		// Shorten the TTL and the refresh-ahead window alike, so that the
		// window stays inside the TTL.
		f := 1 - s.jitter*rand.Float64()
		ttl, ahead = int64(f*float64(ttl)), int64(f*float64(ahead))
	}
	fresh := addSat(loadedAt, ttl)
	e := &entry[V]{
		value:      v,
		loadedAt:   loadedAt,
		refreshAt:  fresh - ahead,
		freshUntil: fresh,
		staleUntil: addSat(fresh, s.swr),
		errorUntil: addSat(fresh, s.sie),
	}
	e.end = max(e.staleUntil, e.errorUntil)
	return e
}

// negative returns the entry that remembers the not-found error err.
func negative[V any](s *settings, err error, loadedAt int64) *entry[V] {
	end := addSat(loadedAt, s.negativeTTL)
	return &entry[V]{
		err:        err,
		loadedAt:   loadedAt,
		refreshAt:  end,
		freshUntil: end,
		staleUntil: end,
		errorUntil: end,
		end:        end,
	}
}

// public returns the Entry for e read at now.
func (e *entry[V]) public(now int64, stale bool, err error) Entry[V] {
	return Entry[V]{
		Value:    e.value,
		LoadedAt: time.Unix(0, e.loadedAt),
		Age:      time.Duration(now - e.loadedAt),
		Stale:    stale,
		Err:      err,
	}
}

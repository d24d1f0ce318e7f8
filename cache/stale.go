package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// The reasons of the events of a cache (resilience.Event.Reason): why a
// Get was answered with a stale value (EventCacheStale), and the answer
// of a load that found nothing (EventCacheLoad).
const (
	// ReasonRefresh: the stale value was served at once, and a background
	// reload of the key was started (none when one is already running,
	// the key's loads are stuck or the cache is closed): within
	// StaleWhileRevalidate, or within StaleIfError with StaleIfSlow None.
	ReasonRefresh = "refresh"
	// ReasonSlow: the Get waited StaleIfSlow for the load, then took the
	// stale value; the load goes on and stores its value for the Gets
	// after it.
	ReasonSlow = "slow"
	// ReasonLoadFailed: the load the Get waited for failed (a loader
	// error, a rejection by a policy the loader runs under, LoadTimeout,
	// Close, or the key's loads being stuck), and StaleIfError served the
	// stale value in place of the error; the event's Err is that error.
	ReasonLoadFailed = "load_failed"
	// ReasonNotFound: the load ended with the loader's ErrNotFound, which
	// is an answer, not a failure: the event's Err is nil.
	ReasonNotFound = "not_found"
)

// StaleWindow is how long a stale answer counts for [Cache.StaleAge]: at
// least StaleWindow and less than twice that (the cache keeps the
// greatest age per period of StaleWindow, for the current period and the
// one before it).
const StaleWindow = time.Minute

// staleSlack bounds the writes of note: an age that exceeds the greatest
// of its period by less than this is not noted, so that a value read
// again and again while it ages makes about one write a second, not one
// per Get. StaleAge is that much less than the truth at most.
const staleSlack = int64(time.Second)

// StaleAge returns the age of the oldest value the cache answered a Get
// with stale within the last StaleWindow (one to two minutes): how long
// before that answer the value had been loaded from the source, to within
// a second. Zero means no Get was answered stale in that time.
//
// A fresh value is always younger than the TTL, so StaleAge is the age of
// the oldest data the cache served lately whenever that is more than the
// TTL: the data it keeps serving under StaleIfError while its source
// fails (StaleAge grows with the outage), or a value restored by Load
// from an old snapshot (it keeps the time it was first loaded) that no
// load could replace. Values under StaleWhileRevalidate count too, and are
// younger than TTL plus StaleWhileRevalidate. Once the source answers
// again and nothing is served stale any more, StaleAge returns to zero
// within two StaleWindows. The readiness check health.Cache reads it.
func (c *Cache[K, V]) StaleAge() time.Duration {
	return time.Duration(c.staleAges.max(c.now()))
}

// staleAges keeps the greatest age of the values served stale, per period
// of StaleWindow, for two periods: the current one and the one before.
type staleAges struct {
	mu     sync.Mutex      // serializes the start of a period in a slot
	period [2]atomic.Int64 // the period each slot is for: Unix nanoseconds / StaleWindow + 1 (0: none)
	age    [2]atomic.Int64 // the greatest age served stale in it, in nanoseconds
}

// note notes a value served stale at now (Unix nanoseconds), age old.
func (s *staleAges) note(now, age int64) {
	p := now/int64(StaleWindow) + 1
	i := p & 1
	for {
		switch q := s.period[i].Load(); {
		case q == p:
			cur := s.age[i].Load()
			if age < cur+staleSlack || s.age[i].CompareAndSwap(cur, age) {
				return
			}
		case q > p:
			return // noted two periods late: past counting
		default:
			// The slot is for an old period: start this one. The age
			// is stored first, so that whoever sees the period sees it.
			s.mu.Lock()
			if s.period[i].Load() == q {
				s.age[i].Store(age)
				s.period[i].Store(p)
				s.mu.Unlock()
				return
			}
			s.mu.Unlock() // another note started it: compare with its age
		}
	}
}

// max returns the greatest age noted in the period of now and the one
// before it.
func (s *staleAges) max(now int64) int64 {
	p := now/int64(StaleWindow) + 1
	var a int64
	for i := range s.period {
		if q := s.period[i].Load(); q == p || q == p-1 {
			a = max(a, s.age[i].Load())
		}
	}
	return a
}

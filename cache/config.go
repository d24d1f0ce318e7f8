package cache

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxEntries  = 10_000
	DefaultTTL         = time.Minute
	DefaultLoadTimeout = 10 * time.Second
)

// Config holds the optional settings of a [Cache]. As in every Config of
// this module, a zero field means its documented default, and
// resilience.None says "none" where that default is something else. The
// zero value is a cache of DefaultMaxEntries values, fresh for DefaultTTL,
// never served stale, with not-found results not cached and loads bounded
// by DefaultLoadTimeout.
//
// The life of a loaded value, measured from the moment it was loaded:
//
//	|--- fresh (TTL) ---|--- stale-while-revalidate ---|
//	|                   |--- stale-if-error -----------------|
//	          |refresh-ahead|
//
// A fresh value is served as it is. In the last RefreshAhead of its
// freshness, a Get still serves it and also starts one background reload.
// Past TTL and within StaleWhileRevalidate, a Get serves the stale value at
// once and starts one background reload. Past that and within StaleIfError,
// a Get waits for a load and, only if the load fails (or, with
// StaleIfSlow, takes longer than that), serves the stale value instead of
// the error. Past every window the value is gone: a Get waits
// for a load and returns its result.
//
// New panics with a "cache: ..." message when a field is out of range.
type Config struct {
	// MaxEntries bounds how many keys the cache holds. When it is full, the
	// entries least likely to be used again are evicted (W-TinyLFU, which
	// weighs both how often and how recently a key was used). Zero means
	// DefaultMaxEntries; negative values panic.
	MaxEntries int

	// TTL is how long a loaded value is fresh. Zero means DefaultTTL;
	// negative values panic.
	TTL time.Duration

	// Jitter shortens each value's TTL (and its RefreshAhead window, in the
	// same proportion) by a random fraction of at most Jitter, so keys
	// loaded together (at start-up, or after Load) do not all expire, or
	// all refresh ahead, at the same moment: 0.1 gives between 90% and 100%
	// of the TTL. It must be in [0, 1); zero means every value is fresh for
	// exactly TTL.
	Jitter float64

	// RefreshAhead starts a background reload of a value that is still
	// fresh but will expire within RefreshAhead, when it is read. Hot keys
	// are then reloaded before they expire and readers never wait. It must
	// be less than TTL; zero means no refresh ahead.
	RefreshAhead time.Duration

	// StaleWhileRevalidate is how long past its TTL a value may still be
	// served at once while one background load replaces it. Zero means no
	// such window; negative values panic.
	StaleWhileRevalidate time.Duration

	// StaleIfError is how long past its TTL a value may be served when a
	// load of its key fails: any loader error but ErrNotFound, including a
	// rejection by a policy the loader runs under (an open breaker, a full
	// bulkhead, a rate limit) and the LoadTimeout. The answer says so
	// (Entry.Stale and Entry.Err). Zero means never; negative values panic.
	StaleIfError time.Duration

	// NegativeTTL is how long a not-found result (a loader error that
	// matches ErrNotFound) is remembered, so that lookups of missing keys do
	// not all reach the source. Zero means not-found results are not cached;
	// negative values panic.
	NegativeTTL time.Duration

	// StaleIfSlow is how long a Get that stale-if-error may answer with a
	// stale value waits for the load before it takes the stale value
	// instead. The load goes on, and stores its value for the Gets after
	// it when it comes; the Get's Entry says Stale, with a nil Err. It
	// bounds what each read pays while the source hangs: StaleIfSlow, not
	// the whole LoadTimeout. Zero means the default: wait for the whole
	// load (up to LoadTimeout), so the stale value is served only once the
	// load has failed. resilience.None means not at all: the stale value
	// is served at once and one load runs behind it, as under
	// StaleWhileRevalidate. Other negative values panic. It has no effect
	// without StaleIfError, or at LoadTimeout or more.
	StaleIfSlow time.Duration

	// LoadTimeout bounds each load. Loads run with a context detached from
	// the caller that started them (its values are kept, its cancellation
	// and deadline are not), so this is what stops a load that nobody waits
	// for any more. Zero means DefaultLoadTimeout; negative values panic,
	// None too: every load has a bound.
	//
	// The bound holds even for a loader that ignores its context: at
	// LoadTimeout the cache gives up on the load. Its callers get an error
	// matching ErrLoadTimeout and context.DeadlineExceeded (or the stale
	// value under StaleIfError), the next Get of the key starts a new load,
	// and whatever the loader returns later is dropped, so it never
	// overwrites a newer value. Go cannot stop a goroutine: the loader's
	// keeps running until it returns (Metrics.LoadsStuck counts them, and
	// Close waits for them). While two loads of a key are stuck so, the
	// cache starts no third one: Gets of the key fail at once with
	// ErrLoadTimeout (or serve stale) until one of them returns.
	LoadTimeout time.Duration

	// OnPanic is called, from the goroutine that ran the load and with no
	// lock held, each time the loader panics, with the context the loader
	// ran with: detached from the Get that started the load, so it carries
	// that Get's values (its trace) but not its cancellation, and it may be
	// done by then (LoadTimeout, Close). The callers waiting for that load
	// get the same *PanicError as their error. Nil means the panic is
	// written to the standard logger (log.Printf) with its stack, as
	// net/http does for a panicking handler: a panic is never dropped
	// silently, and never crashes the process from the cache's goroutine.
	OnPanic func(ctx context.Context, err *PanicError)

	// Name names the cache for telemetry (logs, metrics labels):
	// Cache.Name returns it. Zero means "".
	Name string

	// Observer, when not nil, is told what the cache does, one
	// resilience.Event each, with Policy "cache" and Name the cache's
	// Name: how every Get was answered (EventCacheHit, EventCacheStale
	// with its Reason, or EventCacheMiss: one per Get, as Metrics counts
	// it), on the Get's goroutine, and the end of every load
	// (EventCacheLoad, with its Duration and Err), on the goroutine that
	// ran it; never with a lock of the cache held. See "Events" in the
	// package documentation. Zero means no observer: nothing is reported
	// and nothing is paid (a hit reads no clock for it and allocates
	// nothing). A typed nil (a nil pointer in the interface) panics.
	Observer resilience.Observer
}

// settings is Config checked, with defaults filled in, in nanoseconds.
type settings struct {
	maxEntries   int
	ttl          int64
	jitter       float64
	refreshAhead int64
	swr          int64
	sie          int64
	negativeTTL  int64
	loadTimeout  time.Duration
	staleIfSlow  time.Duration // 0: serve stale at once (None); >= loadTimeout: wait for the load
	onPanic      func(context.Context, *PanicError)
	observer     resilience.Observer
}

func (cfg Config) settings() settings {
	check := func(name string, d time.Duration) {
		if d < 0 {
			panic(fmt.Sprintf("cache: negative Config.%s %v", name, d))
		}
	}
	if cfg.MaxEntries < 0 {
		panic(fmt.Sprintf("cache: negative Config.MaxEntries %d", cfg.MaxEntries))
	}
	check("TTL", cfg.TTL)
	check("RefreshAhead", cfg.RefreshAhead)
	check("StaleWhileRevalidate", cfg.StaleWhileRevalidate)
	check("StaleIfError", cfg.StaleIfError)
	check("NegativeTTL", cfg.NegativeTTL)
	if cfg.LoadTimeout == resilience.None {
		panic("cache: Config.LoadTimeout cannot be None: every load needs a bound (zero means DefaultLoadTimeout)")
	}
	check("LoadTimeout", cfg.LoadTimeout)
	if cfg.StaleIfSlow != resilience.None {
		check("StaleIfSlow", cfg.StaleIfSlow)
	}
	observe.Check("cache", cfg.Observer)
	if !(cfg.Jitter >= 0 && cfg.Jitter < 1) { // also rejects NaN
		panic(fmt.Sprintf("cache: Config.Jitter %v is not in [0, 1)", cfg.Jitter))
	}
	s := settings{
		maxEntries:   cfg.MaxEntries,
		ttl:          int64(cfg.TTL),
		jitter:       cfg.Jitter,
		refreshAhead: int64(cfg.RefreshAhead),
		swr:          int64(cfg.StaleWhileRevalidate),
		sie:          int64(cfg.StaleIfError),
		negativeTTL:  int64(cfg.NegativeTTL),
		loadTimeout:  cfg.LoadTimeout,
		onPanic:      cfg.OnPanic,
		observer:     cfg.Observer,
	}
	if s.maxEntries == 0 {
		s.maxEntries = DefaultMaxEntries
	}
	if s.ttl == 0 {
		s.ttl = int64(DefaultTTL)
	}
	if s.loadTimeout == 0 {
		s.loadTimeout = DefaultLoadTimeout
	}
	switch cfg.StaleIfSlow {
	case 0:
		s.staleIfSlow = s.loadTimeout
	case resilience.None:
		s.staleIfSlow = 0
	default:
		s.staleIfSlow = min(cfg.StaleIfSlow, s.loadTimeout)
	}
	if s.refreshAhead >= s.ttl {
		panic(fmt.Sprintf("cache: Config.RefreshAhead %v is not less than the TTL %v",
			cfg.RefreshAhead, time.Duration(s.ttl)))
	}
	if s.onPanic == nil {
		s.onPanic = func(_ context.Context, err *PanicError) {
			log.Printf("%v\n%s", err, err.Stack)
		}
	}
	return s
}

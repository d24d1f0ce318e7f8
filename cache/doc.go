// Package cache is a read-through cache that keeps data close to the
// service: it coalesces concurrent loads of a key and serves stale values
// when the source of the data fails.
//
// A [Cache] is made with [New] from a loader and a [Config]:
//
//	users := cache.New(func(ctx context.Context, id int) (User, error) {
//		return db.User(ctx, id) // return cache.ErrNotFound (wrapped) for a missing user
//	}, cache.Config{
//		MaxEntries:           100_000,
//		TTL:                  time.Minute,
//		RefreshAhead:         10 * time.Second,
//		Jitter:               0.1,
//		StaleWhileRevalidate: 30 * time.Second,
//		StaleIfError:         24 * time.Hour,
//		NegativeTTL:          10 * time.Second,
//	})
//	defer users.Close()
//	u, err := users.Get(ctx, 42)
//
// # Freshness
//
// Each value is fresh for TTL (shortened at random by up to Jitter, so
// values loaded together do not expire together). Reads in the last
// RefreshAhead of that time reload it in the background; reads within
// StaleWhileRevalidate after it serve the old value at once and reload it
// in the background; reads within StaleIfError after it wait for a load and
// get the old value only if the load fails, for any reason: the source is
// down, the load timed out, or a policy the loader runs under (an open
// breaker, a full bulkhead, a rate limit) rejected it. With StaleIfSlow,
// they also get it when the load is slow: after waiting StaleIfSlow, while
// the load goes on and stores its value for the next reads, so a source
// that hangs costs each read StaleIfSlow instead of the whole LoadTimeout.
// [Cache.GetEntry] says when a value was served stale and which error it
// stands in for.
//
// Loader errors are not cached, except not-found: a loader that returns
// [ErrNotFound] (or an error wrapping it) has that answer remembered for
// NegativeTTL.
//
// # Loads
//
// There is at most one load per key at a time. Every caller that needs the
// key waits for the same load; a caller whose context ends leaves at once
// with ctx.Err(), and when the last waiting caller leaves, the load is
// cancelled. Loads run with a context detached from the caller that started
// them (it keeps the caller's values, such as trace IDs, but not its
// cancellation), bounded by LoadTimeout. Background reloads have no waiting
// caller and run to completion or LoadTimeout.
//
// LoadTimeout holds even for a loader that ignores its context. At
// LoadTimeout the cache gives up on the load: its waiters get an error
// matching [ErrLoadTimeout] and context.DeadlineExceeded (or the stale
// value, under StaleIfError), the next Get starts a new load instead of
// joining the stuck one, and the stuck loader's answer, whenever it comes,
// is dropped, so it never overwrites a newer value. Go has no way to stop a
// goroutine, so the loader's goroutine runs until the loader returns
// ([Metrics].LoadsStuck counts them, and Close waits for them); it ends
// then, and nothing of it is left behind. To bound them, the cache starts
// no load of a key that already has two loads stuck: its Gets fail at once
// with ErrLoadTimeout (or serve stale) until one of them returns.
//
// A loader that panics does not poison its key: the panic is recovered in
// the goroutine that ran the load, every caller waiting for that load gets
// a [*PanicError] (matching [ErrPanicked], with the panic value and stack),
// the next Get loads again, and [Config.OnPanic] is called, by default
// writing the panic and its stack to the standard logger. The panic is not
// raised again: a load runs on a goroutine of the cache, where a panic would
// end the whole process and no caller could recover it, and its callers may
// be many.
//
// Set, Delete and Purge win over a load in flight: the load still answers
// the callers waiting for it, but its value is not stored, so an
// invalidation is never undone by a load that started before it.
//
// # Configuration
//
// As in every package of this module (docs/conventions.md in the
// repository), a zero field of [Config] means its documented default, and
// resilience.None says "none" where that default is something else: the
// one such field is StaleIfSlow, whose default is to wait for the whole
// load and whose None is not to wait at all. The windows (RefreshAhead,
// StaleWhileRevalidate, StaleIfError, NegativeTTL) and Jitter default to
// none, so their zero is already "none". LoadTimeout has no "none": every
// load is bounded. The cache has no queue and no wait for a permit, so no
// MaxWait or MaxQueue. A field out of range panics in [New] with a
// "cache: ..." message.
//
// # Store, clock and goroutines
//
// The values live in an otter v2 cache (github.com/maypok86/otter/v2),
// bounded by MaxEntries with its W-TinyLFU eviction policy: it keeps a
// higher hit rate than LRU on skewed workloads, and its reads take no lock.
// The freshness windows are this package's own, checked against one
// monotonic clock read per Get; a hit makes no allocation.
//
// A Cache starts no goroutine of its own accord that it does not own: loads
// and the store's maintenance run on goroutines that [Cache.Close] cancels
// and waits for. With testing/synctest, make the cache inside the bubble and
// close it before the bubble ends; time in the bubble drives TTLs.
//
// # Warm start and shared levels
//
// [Cache.Save] and [Cache.Load] write and read the cached values with the
// times they were loaded, so a restarted process can answer from its last
// known data while its source is down. [Tiered] puts a [Store] shared by the
// replicas of a service (such as the Redis store of the nested module
// cache/redis, which also broadcasts invalidations over pub/sub) between the
// cache and its source.
//
// # Metrics
//
// [Cache.Metrics] counts hits, misses, stale answers, loads, load errors,
// evictions and the loads in flight. [Cache.StaleAge] is the age of the
// oldest value served stale in the last minute or two: how old the data
// is that the cache answers with while its source fails (the readiness
// check health.Cache reads it). [Config.Name] names the cache for
// telemetry ([Cache.Name]); [Config.OnPanic] gets the load's context, which
// keeps the values (the trace) of the Get that started the load.
//
// # Events
//
// With [Config.Observer] set, a cache reports what it does as
// resilience.Events with Policy "cache" and Name [Config.Name] (Key is
// ""), never with a lock of the cache held. Each Get (or GetEntry)
// reports one of the first three, as [Metrics] counts it, on its own
// goroutine and with its context, when it has its answer:
//
//   - EventCacheHit: answered with a fresh value, or a remembered
//     not-found, without waiting for a load (refresh ahead included).
//   - EventCacheStale: answered with a value past its TTL. Reason says
//     why: [ReasonRefresh] (served at once with a background reload
//     behind it: StaleWhileRevalidate, or StaleIfError with StaleIfSlow
//     None), [ReasonSlow] (StaleIfSlow ran out while the load goes on) or
//     [ReasonLoadFailed] (the load failed and StaleIfError served the
//     value in its place; Err is that failure, as in Entry.Err).
//   - EventCacheMiss: answered by a load, joined or started, that the Get
//     waited for (also when it failed, or the Get's context ended first).
//
// And each load, background reloads included, reports its end:
//
//   - EventCacheLoad: Duration is how long the load ran, Err its failure
//     (nil: a value); a loader's ErrNotFound is an answer, not a failure,
//     so Err is nil and Reason is [ReasonNotFound]. It is reported on the
//     load's goroutine with the load's context (which keeps the values of
//     the Get that started it), before the Gets waiting for it wake. A
//     load the cache gives up on at LoadTimeout ends there: the Get that
//     gives up reports it, with its own context, Duration the LoadTimeout
//     and an Err matching ErrLoadTimeout; its loader returning later
//     reports nothing. So the loads reported with an Err are
//     Metrics.LoadErrors.
//
// So a Get that waits for a load to its end sees EventCacheLoad, then
// reports EventCacheMiss. The events are passed by value: a hit with an Observer still allocates
// nothing, and reads no clock that it did not read without one. Without
// an Observer nothing is reported.
package cache

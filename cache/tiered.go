package cache

import (
	"context"
	"time"
)

// Store is a second cache level shared by the replicas of a service (Redis,
// for one: see the nested module cache/redis), which a loader made by
// [Tiered] reads before the source and fills after it. This package imports
// no client of any such store; an implementation lives beside its client.
//
// Implementations must be safe for concurrent use.
type Store[K comparable, V any] interface {
	// Get returns the stored value of key and the time it was loaded from
	// the source. It returns an error matching ErrNotFound when the store
	// does not hold key, and any other error when the store failed. It
	// should not return copies older than the TTL of the caches it serves
	// (the Redis store expires them at that age).
	Get(ctx context.Context, key K) (value V, loadedAt time.Time, err error)
	// Set stores value as the value of key, loaded from the source at
	// loadedAt.
	Set(ctx context.Context, key K, value V, loadedAt time.Time) error
}

// Tiered returns a loader for [New] that reads key from store first and,
// when the store does not hold it or fails, calls load and puts the value
// it returns in the store. A value found in the store keeps the time it was
// loaded from the source (Tiered passes it to ReportLoadedAt), so the local
// cache counts its freshness from then, not from the copy.
//
// The store never fails a load: when it fails, Tiered goes to the source,
// and an error from Set is dropped (a Store reports its own errors, as the
// Redis store does through its Config.OnError). Errors of load, not-found
// included, are returned as they are and nothing is stored for them.
func Tiered[K comparable, V any](store Store[K, V], load func(ctx context.Context, key K) (V, error)) func(ctx context.Context, key K) (V, error) {
	if store == nil || load == nil {
		panic("cache: Tiered needs a store and a loader")
	}
	return func(ctx context.Context, key K) (V, error) {
		if v, at, err := store.Get(ctx, key); err == nil {
			ReportLoadedAt(ctx, at)
			return v, nil
		}
		start := time.Now()
		v, err := load(ctx, key)
		if err != nil {
			return v, err
		}
		_ = store.Set(ctx, key, v, start)
		return v, nil
	}
}

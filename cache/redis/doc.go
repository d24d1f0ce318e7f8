// Package redis makes Redis a shared second cache level for package cache
// across the replicas of a service, with invalidation over Redis pub/sub.
//
// A [Store] keeps copies of loaded values in Redis, each with the time it was
// loaded from the source, and is a cache.Store: wrap a loader with
// cache.Tiered so that a replica missing a key takes the copy another
// replica loaded instead of asking the source again.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	store := redis.New[string, Product](rdb, redis.Config[string, Product]{
//		Prefix: "products:",
//		TTL:    time.Minute, // the TTL of the local caches
//	})
//	products := cache.New(cache.Tiered(store, loadProduct), cache.Config{TTL: time.Minute})
//	go store.Run(ctx, products) // evict what other replicas invalidate
//
// The owner of the data calls [Store.Invalidate] after changing it: the
// copy in Redis is deleted and every replica running [Store.Run] evicts the
// key from its local cache.
//
// # Redis going away
//
// Redis is an optimisation here, never a dependency of an answer. When
// Redis fails, Get reports the error and cache.Tiered goes to the source,
// failed writes of copies are dropped, and the local caches keep serving
// what they hold. Run keeps trying to subscribe again (backing off up to
// five seconds) and reports each failure to Config.OnError. Invalidations
// published while a replica was cut off are lost to it: its copy lives until
// its local TTL ends, unless Config.PurgeOnReconnect empties the local cache
// when the subscription comes back.
//
// Configure the client for a cache: short DialTimeout, ReadTimeout and
// WriteTimeout, and few or no retries (MaxRetries: -1), so that a Redis
// outage costs a load little time before it falls back to the source.
package redis

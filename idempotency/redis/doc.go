// Package redis is an idempotency.Store in Redis, for services of many
// instances that share the records of their idempotency keys.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	store := redis.NewStore(rdb, redis.Config{Prefix: "orders:idem:"})
//	keys := idempotency.New(store, idempotency.Config{})
//	http.Handle("/orders", keys.Handler(createOrder))
//
// Each record is one Redis hash, and each Store method is one Lua script
// on that one key: Acquire, Complete, Extend and Release are atomic, and
// two processes acquiring one key at once give it to one of them. Since a
// script names a single key, the store works on Redis Cluster (through a
// goredis.ClusterClient) as on a single server.
//
// # Clocks
//
// As idempotency.Store requires, whether a record is live is decided with
// the now the caller passes, compared with the Expires it stored: the
// Redis server's clock never decides. Redis is also told to delete each
// record by itself Config.Grace (DefaultGrace, a minute) after its Expires,
// by the server's clock, so that expired records do not fill it. Choose a
// Grace larger than how far an application server's clock may lag behind
// the Redis server's; with less, Redis may delete a record that a server
// with a slow clock still takes for live, and a repeat would execute again.
// A clock that runs ahead only makes records expire early for that server,
// as it would with any store.
//
// Times are kept to the millisecond (truncated).
//
// # Bounds
//
// Keys, tokens and fingerprints are held to idempotency's bounds, and
// outcomes to Config.MaxOutcomeBytes (1 MiB by default); a record beyond
// them is refused before anything is sent to Redis. How many records fit
// is for the Redis server to say (maxmemory, with the noeviction policy so
// that Redis never drops a live record to make room).
package redis

package redis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/redis"
)

// Every instance of a service keeps its idempotency records in one Redis,
// so that a retry reaching another instance is answered from the outcome
// the first one stored. The example needs a Redis server, so it is
// compiled but not run.
func Example() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store := redis.NewStore(rdb, redis.Config{
		Prefix: "orders:idempotency:",
		Grace:  5 * time.Minute, // our servers' clocks may lag Redis's by this much
	})
	keys := idempotency.New(store, idempotency.Config{KeyRequired: true})

	createOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated) // executed once per Idempotency-Key
	})
	http.Handle("POST /orders", keys.Handler(createOrder))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// The Store methods, called by hand to show what each does; package
// idempotency calls them for you. Compiled but not run: it needs Redis.
func ExampleStore() {
	ctx := context.Background()
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store := redis.NewStore(rdb, redis.Config{})

	now := time.Now()
	r := idempotency.Record{
		Key:         "order-7f3a",
		Token:       rand.Text(),
		Fingerprint: "POST /orders sha256:...",
		Expires:     now.Add(30 * time.Second), // the lease
	}
	live, acquired, err := store.Acquire(ctx, r, now)
	if err != nil {
		log.Fatal(err)
	}
	if !acquired {
		fmt.Printf("in progress or done elsewhere: done %v, outcome %q\n", live.Done, live.Outcome)
		return
	}
	// ... execute, renewing the lease with store.Extend while it runs ...
	r.Done, r.Outcome, r.Expires = true, []byte("201 Created"), now.Add(24*time.Hour)
	if err := store.Complete(ctx, r, time.Now()); err != nil {
		log.Fatal(err) // idempotency.ErrLeaseLost: another execution took over
	}
}

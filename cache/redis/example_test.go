package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/cache/redis"
)

type Product struct {
	Name  string
	Price int
}

func loadProduct(ctx context.Context, id string) (Product, error) {
	return Product{Name: "pen", Price: 2}, nil // the products database
}

// Each replica of a service wires its local cache to Redis like this. The
// example needs a Redis server, so it is compiled but not run.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	rdb := goredis.NewClient(&goredis.Options{
		Addr:        "127.0.0.1:6379",
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond, MaxRetries: -1,
	})
	defer rdb.Close()

	store := redis.New(rdb, redis.Config[string, Product]{
		Prefix:  "products:",
		TTL:     time.Minute,
		OnError: func(_ context.Context, err error) { log.Print(err) },
	})
	products := cache.New(cache.Tiered(store, loadProduct), cache.Config{
		TTL:          time.Minute,
		StaleIfError: time.Hour,
	})
	defer products.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Run(ctx, products) // evict what any replica invalidates
	}()
	defer func() { stop(); <-done }()

	p, err := products.Get(ctx, "p-1")
	fmt.Println(p, err)

	// The owner of the data, after changing it:
	_ = store.Invalidate(ctx, "p-1")
}

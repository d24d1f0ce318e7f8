package redis_test

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/redis"
)

func ExampleNew() {
	// A client whose Redis is down (nothing listens on port 1), to show the
	// fallback: with FailLocal each process enforces the limit by itself
	// until Redis answers again.
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer client.Close()
	limits := redis.New(client, 10, 2, redis.Config{
		Prefix:    "ratelimit:api:",
		OnFailure: redis.FailLocal,
		GroupConfig: ratelimit.GroupConfig{
			QuotaFor: func(key string) (ratelimit.Quota, bool) {
				if key == "customer-pro" {
					return ratelimit.PerWindow(1000, time.Minute), true
				}
				return ratelimit.Quota{}, false
			},
		},
	})
	for range 3 {
		d, err := limits.Take(context.Background(), "customer-free", 1)
		fmt.Println(d.Allowed, err)
	}
	fmt.Println("Redis available:", limits.Available())
	// Output:
	// true <nil>
	// true <nil>
	// false <nil>
	// Redis available: false
}

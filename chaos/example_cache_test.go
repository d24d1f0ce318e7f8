package chaos_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// staleCache is a stand-in for a read-through cache, small enough to read:
// a value is fresh for ttl; after that it is loaded again, and when the
// load fails the last value is served, however old, marked stale.
type staleCache struct {
	ttl  time.Duration
	load func(ctx context.Context, key string) (string, error)

	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	v  string
	at time.Time
}

func (c *staleCache) Get(ctx context.Context, key string) (v string, stale bool, err error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.v, false, nil
	}
	v, err = c.load(ctx, key)
	if err != nil {
		if ok {
			return e.v, true, nil
		}
		return "", false, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cached{}
	}
	c.entries[key] = cached{v, time.Now()}
	c.mu.Unlock()
	return v, false, nil
}

// The price service answers, then is down for two loads, then answers
// again. The cache serves the last price during the outage.
func Example_staleCacheDuringOutage() {
	outage := chaos.Policy(chaos.Fault{When: chaos.Script(".xx."), Action: chaos.ConnReset()})
	version := 0
	c := &staleCache{load: func(ctx context.Context, key string) (string, error) {
		return resilience.Do(ctx, outage, func(context.Context) (string, error) {
			version++
			return fmt.Sprintf("%s v%d", key, version), nil
		})
	}}

	for range 4 {
		v, stale, err := c.Get(context.Background(), "price")
		fmt.Println(v, "stale:", stale, "err:", err)
	}
	// Output:
	// price v1 stale: false err: <nil>
	// price v1 stale: true err: <nil>
	// price v1 stale: true err: <nil>
	// price v2 stale: false err: <nil>
}

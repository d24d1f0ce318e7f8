package chaos_test

import (
	"context"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/chaos"
)

// The price service answers, then resets the connection of the next two
// loads, then answers again. Each read comes after the value expired, so
// each one loads; while the source is down the cache serves the last price
// it had, marked stale, with the error it stands in for.
func Example_staleCacheDuringOutage() {
	outage := chaos.Policy(chaos.Fault{When: chaos.Script(".xx."), Action: chaos.ConnReset()})
	version := 0
	prices := cache.New(func(ctx context.Context, key string) (string, error) {
		return resilience.Do(ctx, outage, func(context.Context) (string, error) {
			version++
			return fmt.Sprintf("%s v%d", key, version), nil
		})
	}, cache.Config{TTL: time.Millisecond, StaleIfError: time.Hour})
	defer prices.Close()

	ctx := resilience.WithKey(context.Background(), "prices:443")
	for range 4 {
		e, err := prices.GetEntry(ctx, "price")
		fmt.Printf("%s stale=%v err=%v (%v)\n", e.Value, e.Stale, err, e.Err)
		time.Sleep(2 * time.Millisecond) // past the TTL
	}
	// Output:
	// price v1 stale=false err=<nil> (<nil>)
	// price v1 stale=true err=<nil> (read tcp prices:443: read: connection reset by peer)
	// price v1 stale=true err=<nil> (read tcp prices:443: read: connection reset by peer)
	// price v2 stale=false err=<nil> (<nil>)
}

package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience/cache"
)

func Example() {
	prices := map[string]int{"apple": 3, "pear": 4}
	c := cache.New(func(ctx context.Context, item string) (int, error) {
		p, ok := prices[item]
		if !ok {
			return 0, fmt.Errorf("price of %s: %w", item, cache.ErrNotFound)
		}
		return p, nil
	}, cache.Config{
		MaxEntries:           1000,
		TTL:                  time.Minute,
		StaleWhileRevalidate: 10 * time.Second,
		StaleIfError:         time.Hour,
		NegativeTTL:          10 * time.Second,
	})
	defer c.Close()

	ctx := context.Background()
	p, err := c.Get(ctx, "apple") // loads
	fmt.Println(p, err)
	p, err = c.Get(ctx, "apple") // hit
	fmt.Println(p, err)
	_, err = c.Get(ctx, "plum")
	fmt.Println(errors.Is(err, cache.ErrNotFound), err)

	m := c.Metrics()
	fmt.Printf("hits %d, misses %d, loads %d\n", m.Hits, m.Misses, m.Loads)
	// Output:
	// 3 <nil>
	// 3 <nil>
	// true price of plum: cache: not found
	// hits 1, misses 2, loads 2
}

func ExampleCache_GetEntry() {
	sourceUp := true
	c := cache.New(func(ctx context.Context, key string) (string, error) {
		if !sourceUp {
			return "", errors.New("inventory service unavailable")
		}
		return "12 in stock", nil
	}, cache.Config{TTL: time.Millisecond, StaleIfError: time.Hour})
	defer c.Close()

	ctx := context.Background()
	e, _ := c.GetEntry(ctx, "sku-1")
	fmt.Printf("%q stale=%v\n", e.Value, e.Stale)

	sourceUp = false
	time.Sleep(5 * time.Millisecond) // the value is past its TTL
	e, err := c.GetEntry(ctx, "sku-1")
	fmt.Printf("%q stale=%v err=%v because: %v\n", e.Value, e.Stale, err, e.Err)
	// Output:
	// "12 in stock" stale=false
	// "12 in stock" stale=true err=<nil> because: inventory service unavailable
}

func ExampleCache_Save() {
	load := func(ctx context.Context, id int) (string, error) { return fmt.Sprintf("user-%d", id), nil }
	cfg := cache.Config{TTL: time.Minute, StaleIfError: 24 * time.Hour}

	before := cache.New(load, cfg)
	for id := range 3 {
		_, _ = before.Get(context.Background(), id)
	}
	var snapshot bytes.Buffer // a file, in a real service
	n, err := before.Save(&snapshot)
	fmt.Println("saved", n, err)
	before.Close()

	// After a restart, with the source down, the last known data answers.
	after := cache.New(func(ctx context.Context, id int) (string, error) {
		return "", errors.New("user service down")
	}, cfg)
	defer after.Close()
	n, err = after.Load(&snapshot)
	fmt.Println("loaded", n, err)
	name, err := after.Get(context.Background(), 2)
	fmt.Println(name, err)
	// Output:
	// saved 3 <nil>
	// loaded 3 <nil>
	// user-2 <nil>
}

func ExampleTiered() {
	shared := newMapStore() // a Store shared by replicas, e.g. cache/redis
	loads := 0
	load := func(ctx context.Context, key string) (int, error) {
		loads++
		return 42, nil
	}
	replicaA := cache.New(cache.Tiered(shared, load), cache.Config{})
	defer replicaA.Close()
	replicaB := cache.New(cache.Tiered(shared, load), cache.Config{})
	defer replicaB.Close()

	a, _ := replicaA.Get(context.Background(), "answer")
	b, _ := replicaB.Get(context.Background(), "answer")
	fmt.Println(a, b, "loads from the source:", loads)
	// Output:
	// 42 42 loads from the source: 1
}

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

var errOpen = errors.New("breaker open")

// breaker is a stand-in for a circuit breaker, small enough to read: after
// threshold failures in a row it opens and rejects calls for cooldown;
// then it lets calls through again, and a success closes it while a
// failure opens it once more.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	failures  int
	openUntil time.Time
}

func (b *breaker) Do(ctx context.Context, op func(context.Context) error) error {
	b.mu.Lock()
	open := time.Now().Before(b.openUntil)
	b.mu.Unlock()
	if open {
		return errOpen
	}
	err := op(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.failures = 0
		return nil
	}
	if b.failures++; b.failures >= b.threshold {
		b.openUntil = time.Now().Add(b.cooldown)
	}
	return err
}

// A dependency refuses connections for its first three calls. The breaker
// opens after three failures, spares the dependency while open, and closes
// again when a call after the cooldown succeeds.
func Example_breakerOpensAndRecovers() {
	down := chaos.Policy(chaos.Fault{When: chaos.First(3), Action: chaos.ConnRefused()})
	b := &breaker{threshold: 3, cooldown: 20 * time.Millisecond}
	ctx := resilience.WithKey(context.Background(), "db:5432")
	call := func() {
		err := resilience.Chain(b, down).Do(ctx, func(context.Context) error { return nil })
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ok")
	}

	for range 5 {
		call()
	}
	time.Sleep(25 * time.Millisecond) // past the cooldown
	call()
	fmt.Println("calls that reached the dependency:", down.Calls())
	// Output:
	// dial tcp db:5432: connect: connection refused
	// dial tcp db:5432: connect: connection refused
	// dial tcp db:5432: connect: connection refused
	// breaker open
	// breaker open
	// ok
	// calls that reached the dependency: 4
}

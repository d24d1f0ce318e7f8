package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/chaos"
)

// A dependency refuses connections for its first three calls. The breaker
// opens after three failures in a row, spares the dependency while open,
// and closes again when the probe after its open duration succeeds.
func Example_breakerOpensAndRecovers() {
	down := chaos.Policy(chaos.Fault{When: chaos.First(3), Action: chaos.ConnRefused()})
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 3,
		OpenDuration:        100 * time.Millisecond,
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			fmt.Println("breaker:", from, "->", to)
		},
	})
	ctx := resilience.WithKey(context.Background(), "db:5432")
	call := func() {
		err := resilience.Chain(b, down).Do(ctx, func(context.Context) error { return nil })
		switch {
		case errors.Is(err, breaker.ErrOpen):
			fmt.Println("rejected: the breaker is open")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println("ok")
		}
	}

	for range 5 {
		call()
	}
	time.Sleep(110 * time.Millisecond) // past the open duration
	call()
	fmt.Println("calls that reached the dependency:", down.Metrics().Calls)
	// Output:
	// dial tcp db:5432: connect: connection refused
	// dial tcp db:5432: connect: connection refused
	// breaker: closed -> open
	// dial tcp db:5432: connect: connection refused
	// rejected: the breaker is open
	// rejected: the breaker is open
	// breaker: open -> half-open
	// breaker: half-open -> closed
	// ok
	// calls that reached the dependency: 4
}

package timelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

// A call that does not finish within its time limit fails with an error
// that matches both ErrTimeout and context.DeadlineExceeded.
func Example() {
	limit := timelimit.New(20*time.Millisecond, timelimit.Config{})
	err := limit.Do(context.Background(), func(ctx context.Context) error {
		select {
		case <-time.After(time.Second): // the slow work
			return nil
		case <-ctx.Done(): // honour the context: give up at the deadline
			return ctx.Err()
		}
	})
	fmt.Println(errors.Is(err, timelimit.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	fmt.Println(err)
	// Output:
	// true true
	// timelimit: timed out after 20ms: context deadline exceeded
}

// Where a time limit sits decides what it bounds: inside a retry policy it
// is the budget of each attempt, outside it the budget of the whole call.
// Here the first attempt hangs and the second would answer at once.
func Example_placement() {
	// A small retry policy of our own: up to 3 attempts while the caller's
	// context lives (the retry package has a complete one).
	retry := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for range 3 {
			if err = op(ctx); err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
	newOp := func() func(context.Context) error {
		attempt := 0
		return func(ctx context.Context) error {
			attempt++
			if attempt == 1 {
				<-ctx.Done() // the first attempt hangs until its context ends
				return ctx.Err()
			}
			return nil
		}
	}

	perAttempt := resilience.Chain(retry, timelimit.New(30*time.Millisecond, timelimit.Config{}))
	fmt.Println("per attempt:", perAttempt.Do(context.Background(), newOp()))

	total := resilience.Chain(timelimit.New(30*time.Millisecond, timelimit.Config{}), retry)
	fmt.Println("total:", total.Do(context.Background(), newOp()))
	// Output:
	// per attempt: <nil>
	// total: timelimit: timed out after 30ms: context deadline exceeded
}

// An op that ignores its context cannot be stopped: the TimeLimit waits for
// it, reports the timeout anyway, and tells OnLate, so that the bug shows.
func ExampleConfig_onLate() {
	limit := timelimit.New(10*time.Millisecond, timelimit.Config{
		OnLate: func(ctx context.Context, late time.Duration) {
			fmt.Println("op returned late by at least 30ms:", late >= 30*time.Millisecond)
		},
	})
	err := limit.Do(context.Background(), func(context.Context) error {
		time.Sleep(40 * time.Millisecond) // does not watch its context
		return nil
	})
	fmt.Println(err)
	fmt.Printf("%+v\n", limit.Metrics())
	// Output:
	// op returned late by at least 30ms: true
	// timelimit: timed out after 10ms
	// {Timeouts:1 Late:1}
}

package bulkhead_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/bulkhead"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// occupy starts n calls that each hold a permit of b until the returned
// function is called, which lets them finish and waits for them. It must
// run inside a synctest bubble.
func occupy(b interface {
	Do(context.Context, func(context.Context) error) error
}, ctx context.Context, n int) (release func()) {
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_ = b.Do(ctx, func(context.Context) error { <-gate; return nil })
		})
	}
	synctest.Wait()
	return func() {
		close(gate)
		wg.Wait()
	}
}

// catch runs f and returns the value it panicked with, or nil.
func catch(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// result is the outcome of a call started in the background.
type result struct {
	err error
	ran bool
}

// start runs one call of b in the background; its op records that it ran
// and calls body. The outcome arrives on the returned channel.
func start(b *bulkhead.Bulkhead, ctx context.Context, body func()) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ran := false
		err := b.Do(ctx, func(context.Context) error {
			ran = true
			if body != nil {
				body()
			}
			return nil
		})
		ch <- result{err: err, ran: ran}
	}()
	return ch
}

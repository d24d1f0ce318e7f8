package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

// A bulkhead of two refuses a third concurrent call at once.
func Example() {
	b := bulkhead.New(2, bulkhead.Config{})
	ctx := context.Background()

	started, finish := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_ = b.Do(ctx, func(context.Context) error {
				started <- struct{}{}
				<-finish // a slow call
				return nil
			})
		})
	}
	<-started
	<-started

	err := b.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(errors.Is(err, bulkhead.ErrFull), err)
	fmt.Printf("%+v saturated=%v\n", b.Metrics(), b.Saturated())

	close(finish)
	wg.Wait()
	fmt.Println(b.Do(ctx, func(context.Context) error { return nil }))
	// Output:
	// true bulkhead: full: 2 calls in flight
	// {InFlight:2 Queued:0 Limit:2 Rejected:1} saturated=true
	// <nil>
}

// With a queue, a call waits for a permit, here up to 50 ms.
func ExampleNew_queue() {
	b := bulkhead.New(1, bulkhead.Config{MaxQueue: 10, MaxWait: 50 * time.Millisecond})
	ctx := context.Background()

	started, finish := make(chan struct{}), make(chan struct{})
	go func() {
		_ = b.Do(ctx, func(context.Context) error {
			close(started)
			<-finish
			return nil
		})
	}()
	<-started

	err := b.Do(ctx, func(context.Context) error { return nil })
	var full *bulkhead.FullError
	if errors.As(err, &full) {
		fmt.Println("refused after waiting at least 50ms:", full.Waited() >= 50*time.Millisecond)
	}
	close(finish)
	// Output:
	// refused after waiting at least 50ms: true
}

// An adaptive limit lowers the number of admitted calls when the
// dependency slows down, and raises it again, up to 100, when it recovers.
func ExampleGradient() {
	b := bulkhead.New(100, bulkhead.Config{
		Adaptive: bulkhead.Gradient{Min: 4, Initial: 20},
		// OnLimit can export the limit as a gauge.
	})
	fmt.Println(b.Metrics().Limit)
	// Output:
	// 20
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A Group in a resilience.Transport keeps one bulkhead per host: a slow
// host fills its own bulkhead and leaves the others alone.
func ExampleGroup() {
	hosts := bulkhead.NewGroup(1, bulkhead.GroupConfig{}) // one call at a time per host
	inSlow, finish := make(chan struct{}), make(chan struct{})
	backend := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Host == "slow.example" {
			close(inSlow)
			<-finish
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	client := &http.Client{Transport: resilience.Transport(backend, hosts)}

	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := client.Get("http://slow.example/report"); err == nil {
			resp.Body.Close()
		}
	}()
	<-inSlow

	_, err := client.Get("http://slow.example/other")
	fmt.Println("slow host:", errors.Is(err, bulkhead.ErrFull))
	resp, err := client.Get("http://fast.example/")
	if err == nil {
		resp.Body.Close()
		fmt.Println("fast host:", resp.StatusCode)
	}
	close(finish)
	<-done
	// Output:
	// slow host: true
	// fast host: 200
}

package chaos_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/retry"
)

// A client retries a dependency that answers 503 twice. The injector sits
// where the network would be, under the retry policy, so its recorder sees
// every attempt. Without jitter the delays are exact; in a test, run this in
// a testing/synctest bubble and assert them with rec.Gaps() (see
// docs/testing.md).
func Example_retryOn503() {
	orders := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "order 42")
	}))
	rec := &chaos.Recorder{}
	flaky := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{
		When:   chaos.First(2),
		Action: chaos.Status(503),
	})
	retrier := retry.New(retry.Config{
		MaxRetries:   3,
		InitialDelay: time.Millisecond,
		Jitter:       retry.JitterNone,
		OnRetry: func(_ context.Context, attempt int, err error, delay time.Duration) {
			fmt.Printf("attempt %d: %v; retry in %v\n", attempt, err, delay)
		},
	})
	client := &http.Client{Transport: resilience.Transport(flaky.Transport(orders), retrier)}

	resp, err := client.Get("http://orders.test/orders/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, ": ", string(body))
	for _, a := range rec.Attempts() {
		fmt.Println(a)
	}
	// Output:
	// attempt 1: resilience: HTTP 503 Service Unavailable; retry in 1ms
	// attempt 2: resilience: HTTP 503 Service Unavailable; retry in 2ms
	// 200 OK: order 42
	// GET http://orders.test/orders/42: 503 [status]
	// GET http://orders.test/orders/42: 503 [status]
	// GET http://orders.test/orders/42: 200
}

package chaos_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// retry is a stand-in for a retry policy, small enough to read: up to
// attempts tries, waiting base, 2*base, 4*base, ... between them, or as
// long as the server asked with Retry-After. It stops at once on a
// permanent error or when ctx is done.
type retry struct {
	attempts int
	base     time.Duration
}

func (r retry) Do(ctx context.Context, op func(context.Context) error) error {
	wait := r.base
	for n := 1; ; n++ {
		err := op(ctx)
		if err == nil || n == r.attempts || resilience.IsPermanent(err) {
			return err
		}
		d := wait
		if hint, ok := resilience.RetryAfter(err); ok {
			d = hint
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// A client retries a dependency that answers 503 twice. The injector sits
// where the network would be, under the retry policy, so its recorder sees
// every attempt. In a test, run this in a testing/synctest bubble and assert
// the spacing of the attempts with rec.Gaps(): see docs/testing.md.
func Example_retryOn503() {
	orders := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "order 42")
	}))
	rec := &chaos.Recorder{}
	flaky := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{
		When:   chaos.First(2),
		Action: chaos.Status(503),
	})
	client := &http.Client{
		Transport: resilience.Transport(flaky.Transport(orders), retry{attempts: 4, base: 5 * time.Millisecond}),
	}

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
	// 200 OK: order 42
	// GET http://orders.test/orders/42: 503 [status]
	// GET http://orders.test/orders/42: 503 [status]
	// GET http://orders.test/orders/42: 200
}

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// timeLimit is a stand-in for a time limit policy, small enough to read:
// each call gets d at most.
func timeLimit(d time.Duration) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return op(ctx)
	})
}

// A dependency accepts the request and never answers. The time limit gives
// up after 20ms; Hang returns as soon as the context ends, and leaves no
// goroutine behind.
func Example_timeoutOfHangingDependency() {
	stuck := chaos.Transport(nil, chaos.Fault{Action: chaos.Hang()}) // never reaches the network
	client := &http.Client{Transport: resilience.Transport(stuck, timeLimit(20*time.Millisecond))}

	start := time.Now()
	_, err := client.Get("http://reports.test/slow")
	fmt.Println(err)
	fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
	fmt.Println("waited the limit:", time.Since(start) >= 20*time.Millisecond)
	// Output:
	// Get "http://reports.test/slow": context deadline exceeded
	// deadline exceeded: true
	// waited the limit: true
}

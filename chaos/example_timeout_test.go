package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/timelimit"
)

// A dependency accepts the request and never answers. The time limit gives
// up after 20ms; Hang returns as soon as the context ends, and leaves no
// goroutine behind.
func Example_timeoutOfHangingDependency() {
	stuck := chaos.Transport(nil, chaos.Fault{Action: chaos.Hang()}) // never reaches the network
	client := &http.Client{Transport: resilience.Transport(stuck, timelimit.New(20*time.Millisecond, timelimit.Config{}))}

	start := time.Now()
	_, err := client.Get("http://reports.test/slow")
	fmt.Println(err)
	fmt.Println("timeout:", errors.Is(err, timelimit.ErrTimeout), "deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
	fmt.Println("waited the limit:", time.Since(start) >= 20*time.Millisecond)
	// Output:
	// Get "http://reports.test/slow": timelimit: timed out after 20ms: context deadline exceeded
	// timeout: true deadline exceeded: true
	// waited the limit: true
}

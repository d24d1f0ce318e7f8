package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

// A breaker that opens after three failures in a row and fails fast while
// open.
func Example() {
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 3,
		OpenDuration:        30 * time.Second,
	})
	ctx := context.Background()
	down := errors.New("connection refused")
	for range 3 {
		err := b.Do(ctx, func(ctx context.Context) error { return down })
		fmt.Println(err)
	}
	fmt.Println(b.State())

	err := b.Do(ctx, func(ctx context.Context) error {
		panic("not called while open")
	})
	fmt.Println(errors.Is(err, breaker.ErrOpen))
	if wait, ok := resilience.RetryAfter(err); ok {
		fmt.Println("retry in", wait.Round(time.Second))
	}
	// Output:
	// connection refused
	// connection refused
	// connection refused
	// open
	// true
	// retry in 30s
}

// A failure rate over the last 20 calls, a slow-call rule, and an open
// duration that doubles on each failed probe, up to five minutes.
func ExampleConfig() {
	b := breaker.New(breaker.Config{
		WindowCalls:      20,
		MinCalls:         10,
		FailureRate:      0.5,
		SlowCall:         2 * time.Second,
		SlowCallRate:     0.8,
		OpenDuration:     10 * time.Second,
		MaxOpenDuration:  5 * time.Minute,
		OpenJitter:       0.2,
		MaxProbes:        2,
		SuccessThreshold: 3,
	})
	price, err := resilience.Do(context.Background(), b, func(ctx context.Context) (int, error) {
		return 42, nil // a call to the pricing service
	})
	fmt.Println(price, err)
	m := b.Metrics()
	fmt.Println(m.State, m.Calls, m.WindowCalls, m.FailureRate)
	// Output:
	// 42 <nil>
	// closed 1 1 0
}

// One breaker per downstream host: a Group behind resilience.Transport.
// The failing host gets its breaker opened; the healthy one is untouched.
func ExampleGroup() {
	// A stand-in for the network: one host is down.
	network := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		code := http.StatusOK
		if req.URL.Host == "payments.internal" {
			code = http.StatusServiceUnavailable
		}
		return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
	})
	hosts := breaker.NewGroup(breaker.GroupConfig{
		Config: breaker.Config{ConsecutiveFailures: 2, OpenDuration: time.Minute},
		OnStateChange: func(_ context.Context, host string, from, to breaker.State) {
			fmt.Printf("%s: %s -> %s\n", host, from, to)
		},
	})
	defer hosts.Close()
	client := &http.Client{Transport: resilience.Transport(network, hosts)}

	for _, url := range []string{
		"http://payments.internal/charge",
		"http://payments.internal/charge",
		"http://payments.internal/charge",
		"http://catalog.internal/items",
	} {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Println(errors.Is(err, breaker.ErrOpen), "for", url)
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "from", url)
	}
	// Output:
	// 503 from http://payments.internal/charge
	// payments.internal: closed -> open
	// 503 from http://payments.internal/charge
	// true for http://payments.internal/charge
	// 200 from http://catalog.internal/items
}

// Probing with a health check instead of user traffic: once the open
// duration has passed, the breaker calls HealthCheck in a goroutine of its
// own and closes when it succeeds. User calls are rejected until then.
func ExampleConfig_healthCheck() {
	changes := make(chan string, 10)
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 1,
		OpenDuration:        10 * time.Millisecond,
		HealthCheck: func(ctx context.Context) error {
			return nil // e.g. GET /healthz on the dependency
		},
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			changes <- from.String() + " -> " + to.String()
		},
	})
	defer b.Close() // stops the health-check goroutine

	_ = b.Do(context.Background(), func(ctx context.Context) error {
		return errors.New("timeout")
	})
	for change := range changes {
		fmt.Println(change)
		if strings.HasSuffix(change, "-> closed") {
			break
		}
	}
	// Output:
	// closed -> open
	// open -> half-open
	// half-open -> closed
}

// Taking manual control: isolate a dependency during an incident, or turn
// the breaker off while still measuring.
func ExampleBreaker_ForceOpen() {
	b := breaker.New(breaker.Config{})
	b.ForceOpen()
	err := b.Do(context.Background(), func(ctx context.Context) error { return nil })
	fmt.Println(b.State(), err)
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// forced-open breaker: open (forced)
	// closed
}

// Metrics for a dashboard or a health endpoint.
func ExampleBreaker_Metrics() {
	b := breaker.New(breaker.Config{WindowCalls: 10, MinCalls: 5})
	ctx := context.Background()
	for i := range 8 {
		_ = b.Do(ctx, func(ctx context.Context) error {
			if i%4 == 0 {
				return errors.New("timeout")
			}
			return nil
		})
	}
	m := b.Metrics()
	fmt.Printf("%s: %d calls, %d failures, window %d calls, failure rate %.0f%%\n",
		m.State, m.Calls, m.Failures, m.WindowCalls, 100*m.FailureRate)
	// Output:
	// closed: 8 calls, 2 failures, window 8 calls, failure rate 25%
}

package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// logged is a small policy of one's own, written with PolicyFunc.
func logged(name string) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		fmt.Println("enter", name)
		err := op(ctx)
		fmt.Println("leave", name, err)
		return err
	})
}

func ExampleChain() {
	p := resilience.Chain(logged("outer"), logged("inner"))
	_ = p.Do(context.Background(), func(context.Context) error {
		fmt.Println("op")
		return nil
	})
	// Output:
	// enter outer
	// enter inner
	// op
	// leave inner <nil>
	// leave outer <nil>
}

func ExampleDo() {
	price, err := resilience.Do(context.Background(), logged("policy"), func(ctx context.Context) (float64, error) {
		return 9.99, nil
	})
	fmt.Println(price, err)
	// Output:
	// enter policy
	// leave policy <nil>
	// 9.99 <nil>
}

// Transport puts policies around every request of an http.Client. Here a
// retry rides over two 503 answers; the caller sees only the final 200.
func ExampleTransport() {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "fresh data")
	}))
	defer srv.Close()

	retrier := retry.New(retry.Config{
		MaxRetries:   3,
		InitialDelay: time.Millisecond,
		OnRetry: func(attempt int, err error, _ time.Duration) {
			fmt.Println("attempt", attempt, "failed:", err)
		},
	})
	client := &http.Client{Transport: resilience.Transport(srv.Client().Transport, retrier)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// attempt 1 failed: resilience: HTTP 503 Service Unavailable
	// attempt 2 failed: resilience: HTTP 503 Service Unavailable
	// 200 fresh data
}

// overloaded is a rejection as a bulkhead or rate limiter returns it.
type overloaded struct{}

func (overloaded) Error() string             { return "too busy" }
func (overloaded) HTTPStatus() int           { return http.StatusTooManyRequests }
func (overloaded) RetryAfter() time.Duration { return 2 * time.Second }

// Handler answers for the policies when they reject a request.
func ExampleHandler() {
	limiter := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return overloaded{} // a limiter that refuses everything
	})
	h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "never reached")
	}), limiter)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(w.Code, w.Header().Get("Retry-After"), strings.TrimSpace(w.Body.String()))
	// Output:
	// 429 2 Too Many Requests
}

func ExamplePermanent() {
	err := fmt.Errorf("create user: %w", resilience.Permanent(errors.New("email already taken")))
	fmt.Println(resilience.IsPermanent(err), err)
	// Output:
	// true create user: email already taken
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d, ok := resilience.ParseRetryAfter("120", now)
	fmt.Println(d, ok)
	d, ok = resilience.ParseRetryAfter("Fri, 27 Nov 2026 12:00:30 GMT", now)
	fmt.Println(d, ok)
	_, ok = resilience.ParseRetryAfter("soon", now)
	fmt.Println(ok)
	// Output:
	// 2m0s true
	// 30s true
	// false
}

func ExampleWithKey() {
	ctx := resilience.WithKey(context.Background(), "customer-42")
	fmt.Println(resilience.KeyFrom(ctx))
	// Output: customer-42
}

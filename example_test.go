package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/httpkey"
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
		OnRetry: func(_ context.Context, attempt int, err error, _ time.Duration) {
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

// With TransportConfig.IdempotencyKey, a POST gets a key that every
// attempt carries, and so it may be retried: a server that honours the key
// (such as the idempotency package's Handler) does the work once. Here the
// server fails the first attempt after taking note of its key.
func ExampleNewTransport_idempotencyKey() {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "order placed")
	}))
	defer srv.Close()

	retrier := retry.New(retry.Config{MaxRetries: 2, InitialDelay: time.Millisecond})
	client := &http.Client{Transport: resilience.NewTransport(srv.Client().Transport,
		resilience.TransportConfig{IdempotencyKey: resilience.NewIdempotencyKey}, retrier)}
	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"item":42}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))

	mu.Lock()
	defer mu.Unlock()
	fmt.Println("attempts:", len(keys))
	fmt.Println("a quoted key of 32 hex digits:", regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(keys[0]))
	fmt.Println("the retry sent the same key:", keys[1] == keys[0])
	// Output:
	// 201 order placed
	// attempts: 2
	// a quoted key of 32 hex digits: true
	// the retry sent the same key: true
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

// NewHandler keys each request by client, so a per-client policy — here a
// bulkhead per client, letting each one have a single request in flight —
// keeps one instance per client. Behind a load balancer, name the proxies
// whose X-Forwarded-For is believed; a problem+json answer replaces the
// plain-text one.
func ExampleNewHandler() {
	perClient := bulkhead.NewGroup(1, bulkhead.GroupConfig{})
	release := make(chan struct{})
	h := resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a slow request
		fmt.Fprint(w, "done")
	}), resilience.HandlerConfig{
		Key: httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}),
		Reject: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(resilience.RejectionStatus(err))
			fmt.Fprintf(w, `{"status":%d}`, resilience.RejectionStatus(err))
		},
	}, perClient)

	serve := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.5:4321" // the load balancer
		r.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve("198.51.100.7") }()
	for m, _ := perClient.Metrics("198.51.100.7"); m.InFlight == 0; m, _ = perClient.Metrics("198.51.100.7") {
		runtime.Gosched() // wait until the first request is in flight
	}
	second := serve("198.51.100.7") // the same client again: refused
	close(release)
	other := serve("203.0.113.9") // another client has its own bulkhead
	fmt.Println(second.Code, second.Body.String())
	fmt.Println(other.Code, other.Body.String())
	fmt.Println((<-first).Code)
	// Output:
	// 503 {"status":503}
	// 200 done
	// 200
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

// A caller's deadline travels with the request: the client's Transport
// sends how long it will wait, and the server's Handler ends the
// request's context by then, less a margin, or refuses at once a request
// with too little time left.
func ExampleDeadlineConfig() {
	srv := httptest.NewServer(resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, _ := r.Context().Deadline()
		fmt.Fprintln(w, "within 9.95s:", time.Until(dl) <= 9950*time.Millisecond)
	}), resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{
		Margin:  50 * time.Millisecond, // the answer's way back
		MinLeft: 2 * time.Second,       // less than that: 503 at once
	}}))
	defer srv.Close()

	client := &http.Client{Transport: resilience.NewTransport(nil, resilience.TransportConfig{SendDeadline: true})}
	for _, wait := range []time.Duration{10 * time.Second, 1500 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			cancel()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 within 9.95s: true
	// 503 Service Unavailable
}

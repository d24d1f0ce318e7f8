package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/ratelimit"
)

func ExampleNew() {
	// 10 calls per second on average, bursts of up to 2.
	l := ratelimit.New(10, 2, ratelimit.Config{})
	ctx := context.Background()
	for i := range 3 {
		err := l.Do(ctx, func(context.Context) error {
			fmt.Println("call", i, "runs")
			return nil
		})
		if errors.Is(err, ratelimit.ErrLimited) {
			d, _ := resilience.RetryAfter(err)
			fmt.Println("call", i, "limited; retry in about", d.Round(50*time.Millisecond))
		}
	}
	// Output:
	// call 0 runs
	// call 1 runs
	// call 2 limited; retry in about 100ms
}

func ExampleConfig_maxWait() {
	// Queue up to 8 callers for at most 2 s, then refuse.
	l := ratelimit.New(rate.Every(time.Millisecond), 1, ratelimit.Config{MaxWait: 2 * time.Second, MaxQueue: 8})
	for range 3 {
		if err := l.Wait(context.Background()); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("three calls paced a millisecond apart")
	// Output:
	// three calls paced a millisecond apart
}

func ExampleNewGroup() {
	tiers := map[string]ratelimit.Quota{
		"customer-pro": ratelimit.PerWindow(1000, time.Minute),
	}
	k := ratelimit.NewGroup(1, 3, ratelimit.GroupConfig{
		QuotaFor: func(key string) (ratelimit.Quota, bool) {
			l, ok := tiers[key]
			return l, ok
		},
	})
	for _, customer := range []string{"customer-free", "customer-pro"} {
		n := 0
		for k.Allow(customer) {
			n++
		}
		fmt.Println(customer, "burst:", n)
	}
	// Output:
	// customer-free burst: 3
	// customer-pro burst: 1000
}

// A server limits each client to 100 requests a minute with a Group
// under resilience.NewHandler, which keys each request by the
// client's address (here behind a proxy at 10.0.0.0/8 that sets
// X-Forwarded-For). The limiter's Do writes the RateLimit headers; the
// Handler answers a refusal 429 with Retry-After.
func Example_server() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	limits := ratelimit.NewGroup(ratelimit.PerWindow(100, time.Minute).Rate, 100, ratelimit.GroupConfig{})
	h := resilience.NewHandler(api, resilience.HandlerConfig{
		Key: httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}),
	}, limits)
	get := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.2.3:5678"
		r.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("198.51.100.7")
	fmt.Println(w.Code)
	fmt.Println("RateLimit-Policy:", w.Header().Get("RateLimit-Policy"))
	fmt.Println("RateLimit:", w.Header().Get("RateLimit"))
	for range 99 {
		get("198.51.100.7")
	}
	w = get("198.51.100.7")
	fmt.Println(w.Code, "Retry-After:", w.Header().Get("Retry-After"), "RateLimit:", w.Header().Get("RateLimit"))
	fmt.Println("another client:", get("203.0.113.9").Code)
	// Output:
	// 200
	// RateLimit-Policy: "default";q=100;w=60
	// RateLimit: "default";r=99;t=1
	// 429 Retry-After: 1 RateLimit: "default";r=0;t=1
	// another client: 200
}

// Config.Cost charges each request by what it costs the server, reading the
// request from the context; Config.DryRun tries a limit on live traffic,
// reporting what it would refuse and refusing nothing.
func ExampleConfig_cost() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "results\n") })
	limits := ratelimit.New(10, 10, ratelimit.Config{
		Cost: func(ctx context.Context) int {
			if r := resilience.RequestFrom(ctx); r != nil && r.URL.Path == "/search" {
				return 4 // a search costs as much as four page views
			}
			return 1
		},
		DryRun: true,
		OnLimited: func(ctx context.Context, err *ratelimit.LimitedError) {
			fmt.Println("would refuse", resilience.RequestFrom(ctx).URL.Path+":", err.Reason())
		},
	})
	h := resilience.Handler(api, limits)
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/search", nil))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 results
	// 200 results
	// would refuse /search: rate exceeded
	// 200 results
}

func ExampleNewThrottle() {
	// Drop calls locally once the backend rejects more than half of them
	// (K = 2, the default).
	throttle := ratelimit.NewThrottle(ratelimit.ThrottleConfig{})
	client := &http.Client{Transport: resilience.Transport(nil, throttle)}
	_ = client
	err := throttle.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err, throttle.Probability())
	// Output:
	// <nil> 0
}

func ExampleGroup_Totals() {
	perClient := ratelimit.NewGroup(1, 2, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "api"}})
	for range 3 {
		perClient.Allow("client-1")
		_, _ = perClient.Take(context.Background(), "client-2", 3)
	}
	m := perClient.Totals()
	fmt.Println(perClient.Name(), m.Admitted, m.Refused[ratelimit.ReasonTooCostly], m.Keys)
	// Output:
	// api 2 3 1
}

// Metrics(key) reads one key's bucket without making it; Range visits
// every key held.
func ExampleGroup_Metrics() {
	perClient := ratelimit.NewGroup(1, 5, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "api"}})
	perClient.AllowN("client-1", 3)
	m, ok := perClient.Metrics("client-1")
	fmt.Println(ok, int(m.Tokens), m.Quota.Burst) // tokens refill between whole ones
	_, ok = perClient.Metrics("client-2")
	fmt.Println(ok, perClient.Len())
	perClient.Range(func(key string, m ratelimit.Metrics) bool {
		fmt.Println(key, m.Tokens >= 2)
		return true
	})
	// Output:
	// true 2 5
	// false 1
	// client-1 true
}

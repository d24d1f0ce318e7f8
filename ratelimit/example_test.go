package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/ratelimit"
)

func ExampleNew() {
	// 10 calls per second on average, bursts of up to 2.
	l := ratelimit.New(10, 2)
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
	// Queue up to 8 callers for at most 2 s, then drop.
	l := ratelimit.New(rate.Every(time.Millisecond), 1, ratelimit.Config{MaxWait: 2 * time.Second, MaxWaiters: 8})
	for range 3 {
		if err := l.Wait(context.Background()); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("three calls paced a millisecond apart")
	// Output:
	// three calls paced a millisecond apart
}

func ExampleNewKeyed() {
	tiers := map[string]ratelimit.Limit{
		"customer-pro": ratelimit.PerWindow(1000, time.Minute),
	}
	k := ratelimit.NewKeyed(1, 3, ratelimit.KeyedConfig{
		LimitFor: func(key string) (ratelimit.Limit, bool) {
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

func ExampleHandler() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	// 100 requests per minute per client address, behind a proxy at
	// 10.0.0.0/8 that sets X-Forwarded-For.
	limits := ratelimit.NewKeyed(ratelimit.PerWindow(100, time.Minute).Rate, 100)
	h := ratelimit.Handler(api, limits, ratelimit.HTTPConfig{
		Key: httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}),
	})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:5678"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)
	fmt.Println("RateLimit-Policy:", w.Header().Get("RateLimit-Policy"))
	fmt.Println("RateLimit:", w.Header().Get("RateLimit"))
	// Output:
	// 200
	// RateLimit-Policy: "default";q=100;w=60
	// RateLimit: "default";r=99;t=1
}

func Example_clientIPKey() {
	key := httpkey.ClientIP(httpkey.IPConfig{}) // IPv6 clients grouped by /64
	for _, addr := range []string{"192.0.2.7:1234", "[2001:db8:aa:bb:1:2:3:4]:443"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		fmt.Println(key(r))
	}
	// Output:
	// 192.0.2.7
	// 2001:db8:aa:bb::/64
}

func ExampleParseRateLimit() {
	limits, err := ratelimit.ParseRateLimit(`"default";r=0;t=17`)
	if err != nil {
		panic(err)
	}
	for _, l := range limits {
		fmt.Printf("%s: %d left, resets in %v\n", l.Name, l.Remaining, l.Reset)
	}
	// Output:
	// default: 0 left, resets in 17s
}

func ExampleNewAdaptive() {
	// Drop calls locally once the backend rejects more than half of them
	// (K = 2, the default).
	throttle := ratelimit.NewAdaptive()
	client := &http.Client{Transport: resilience.Transport(nil, throttle)}
	_ = client
	err := throttle.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err, throttle.Probability())
	// Output:
	// <nil> 0
}

func ExampleNewReader() {
	// At most 64 KiB per second, in chunks of up to 16 KiB.
	l := ratelimit.New(64<<10, 16<<10)
	r := ratelimit.NewReader(context.Background(), strings.NewReader("a small payload"), l)
	b, _ := io.ReadAll(r)
	fmt.Println(string(b))
	// Output:
	// a small payload
}

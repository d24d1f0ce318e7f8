package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
)

// Recommendations are nice to have: when the service fails, the page shows
// none rather than an error. A Fallback with a static value answers every
// failure with it.
func Example() {
	none := fallback.New(fallback.Value([]string{}), fallback.Config{})
	recs, err := resilience.Do(context.Background(), none, func(ctx context.Context) ([]string, error) {
		return nil, errors.New("recommendations: connection refused")
	})
	fmt.Printf("%q %v\n", recs, err)
	fmt.Println("answered:", none.Metrics().Fallbacks[fallback.KindValue])
	// Output:
	// [] <nil>
	// answered: 1
}

// "Best effort": while the breaker is open, callers get the last good
// exchange rate instead of an error, as long as it is no older than an
// hour.
func Example_staleWhileBreakerOpen() {
	rates := fallback.New[float64](nil, fallback.Config{Stale: time.Hour})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenDuration: time.Minute})
	p := resilience.Chain(rates, br)

	up := true
	fetch := func(ctx context.Context) (float64, error) {
		if !up {
			return 0, errors.New("rates: 502 Bad Gateway")
		}
		return 1.0842, nil
	}
	ctx := resilience.WithKey(context.Background(), "EUR/USD")
	for i := range 5 {
		if i == 1 {
			up = false // the service goes down; after two failures the breaker opens
		}
		rate, err := resilience.Do(ctx, p, fetch)
		fmt.Println(rate, err, br.State())
	}
	m := rates.Metrics()
	fmt.Println("stale answers:", m.Fallbacks[fallback.KindStale])
	// Output:
	// 1.0842 <nil> closed
	// 1.0842 <nil> closed
	// 1.0842 <nil> open
	// 1.0842 <nil> open
	// 1.0842 <nil> open
	// stale answers: 4
}

// An alternate call: when the primary region fails, ask the secondary. The
// sub makes the call with the context Do received, and its error, if it
// fails too, comes back with the primary's.
func ExampleNew_alternate() {
	primary := func(ctx context.Context) (string, error) { return "", errors.New("eu-west: timeout") }
	secondary := func(ctx context.Context) (string, error) { return "profile from us-east", nil }

	fb := fallback.New(func(ctx context.Context, err error) (string, error) {
		return secondary(ctx)
	}, fallback.Config{
		OnFallback: func(ctx context.Context, err error, k fallback.Kind) {
			fmt.Printf("primary failed (%v), answered: %v\n", err, k)
		},
	})
	profile, err := resilience.Do(context.Background(), fb, primary)
	fmt.Println(profile, err)
	// Output:
	// primary failed (eu-west: timeout), answered: value
	// profile from us-east <nil>
}

// With plain Policy.Do there is no value to answer with: the alternate
// call of NewFunc delivers its own result.
func ExampleNewFunc() {
	var profile string
	fb := fallback.NewFunc(func(ctx context.Context, err error) error {
		profile = "profile from the local cache"
		return nil
	}, fallback.Config{})
	err := fb.Do(context.Background(), func(ctx context.Context) error {
		return errors.New("profiles: 503 Service Unavailable")
	})
	fmt.Println(profile, err)
	// Output:
	// profile from the local cache <nil>
}

// A Fallback answers through resilience.Do of its own type. Used with
// plain Policy.Do, or resilience.Do of another type, it has nowhere to
// put its value and says so, rather than report a success without one.
func ExampleErrNoResult() {
	fb := fallback.New(fallback.Value(42), fallback.Config{})
	failure := errors.New("connection refused")
	_, err := resilience.Do(context.Background(), fb, func(ctx context.Context) (string, error) {
		return "", failure
	})
	fmt.Println(errors.Is(err, fallback.ErrNoResult), errors.Is(err, failure))
	fmt.Println(err)
	// Output:
	// true true
	// fallback: no result to answer into: the context holds no call of resilience.Do[int]; op failed: connection refused
}

// "Fail silently": while the breaker is open, the client gets an empty
// list with a 200 instead of an error, without a request being sent.
func ExampleNewHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	empty := fallback.NewHTTP(fallback.StaticResponse(http.StatusOK,
		http.Header{"Content-Type": {"application/json"}}, `{"items":[]}`), fallback.HTTPConfig{})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Minute})
	client := &http.Client{Transport: resilience.Transport(nil, empty, br)}

	for range 2 {
		resp, err := client.Get(srv.URL + "/items")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body), br.State())
	}
	// Output:
	// 200 {"items":[]} open
	// 200 {"items":[]} open
}

// "Best effort": while the breaker is open, a GET is answered with the last
// good response to it, marked stale.
func ExampleNewHTTP_stale() {
	up := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, `{"price":42}`)
	}))
	defer srv.Close()

	last := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: 10 * time.Minute})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Minute})
	client := &http.Client{Transport: resilience.Transport(nil, last, br)}

	for i := range 3 {
		if i == 1 {
			up = false
		}
		resp, err := client.Get(srv.URL + "/price")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body) // read to the end: a good response is remembered
		resp.Body.Close()
		fmt.Printf("%d %s Age=%q Warning=%q %v\n", resp.StatusCode, body, resp.Header.Get("Age"), resp.Header.Get("Warning"), br.State())
	}
	// Output:
	// 200 {"price":42} Age="" Warning="" closed
	// 200 {"price":42} Age="0" Warning="110 - \"Response is Stale\"" open
	// 200 {"price":42} Age="0" Warning="110 - \"Response is Stale\"" open
}

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// The client you test gets a transport that fails the way a dependency
// does: here the first request is reset, and the error is the one net/http
// returns in production, so your classification code sees the real thing.
func ExampleTransport() {
	api := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	client := &http.Client{Transport: chaos.Transport(api, chaos.Fault{
		When:   chaos.First(1),
		Action: chaos.ConnReset(),
	})}

	_, err := client.Get("http://10.0.0.7:8080/") // fails
	var netErr net.Error
	fmt.Println(err)
	fmt.Println("net.Error:", errors.As(err, &netErr), "ECONNRESET:", errors.Is(err, syscall.ECONNRESET))

	resp, err := client.Get("http://10.0.0.7:8080/") // goes through
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// Get "http://10.0.0.7:8080/": read tcp 10.0.0.7:8080: read: connection reset by peer
	// net.Error: true ECONNRESET: true
	// 200 hello
}

// A server whose /v1/orders endpoints are slow and sometimes unavailable,
// for testing a client against it; served here with a ResponseRecorder.
func ExampleHandler() {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	server := chaos.Handler(api,
		chaos.Fault{Match: chaos.PathPrefix("/v1/orders"), Delay: chaos.Fixed(time.Millisecond)},
		chaos.Fault{Match: chaos.PathPrefix("/v1/orders"), When: chaos.Every(2), Action: chaos.Status(503, "Retry-After", "5")},
	)
	for _, path := range []string{"/v1/orders/1", "/v1/orders/2", "/v1/users/1", "/v1/orders/3"} {
		w := httptest.NewRecorder()
		server.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code, "Retry-After="+w.Header().Get("Retry-After"))
	}
	// Output:
	// /v1/orders/1 200 Retry-After=
	// /v1/orders/2 503 Retry-After=5
	// /v1/users/1 200 Retry-After=
	// /v1/orders/3 200 Retry-After=
}

// An injector is a resilience.Policy: compose it with others to fail any
// call, not only HTTP.
func ExamplePolicy() {
	db := chaos.Policy(chaos.Fault{
		Match:  chaos.Key("orders-db"),
		When:   chaos.Script("x.x"),
		Action: chaos.DialTimeout(),
	})
	ctx := resilience.WithKey(context.Background(), "orders-db")
	for range 4 {
		err := db.Do(ctx, func(context.Context) error { return nil })
		fmt.Println(err, os.IsTimeout(err))
	}
	fmt.Println("injected:", db.Metrics().Injected[chaos.KindDialTimeout], "of", db.Metrics().Calls)
	// Output:
	// dial tcp orders-db: i/o timeout true
	// <nil> false
	// dial tcp orders-db: i/o timeout true
	// dial tcp orders-db: i/o timeout true
	// injected: 3 of 4
}

// A rate picks calls at random, from a sequence fixed by its seed: the
// same seed fails the same calls on every run.
func ExampleRate() {
	show := func(c chaos.Condition) {
		var b strings.Builder
		for range 30 {
			if c(chaos.Call{}) {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		fmt.Println(b.String())
	}
	show(chaos.Rate(0.2, 42))
	show(chaos.Rate(0.2, 42))
	show(chaos.Rate(0.2, 7))
	// Output:
	// .x..x...........x.x..x..x.....
	// .x..x...........x.x..x..x.....
	// .x......x.x..........x....x...
}

// Scripts decide by the count of calls: x fails a call, . lets it pass,
// and the last step repeats.
func ExampleScript() {
	c := chaos.Script("xx.x.")
	for n := 1; n <= 7; n++ {
		fmt.Print(c(chaos.Call{}), " ")
	}
	fmt.Println()
	// Output:
	// true true false true false false false
}

// Fault injection shipped dormant, switched on and off at run time (from an
// admin endpoint, say) for a game day: an atomic flag, no restart.
func ExampleInjector_SetEnabled() {
	inj := chaos.New(chaos.Config{Disabled: true}, chaos.Fault{
		When:   chaos.Rate(0.05, uint64(time.Now().UnixNano())),
		Action: chaos.Status(503),
	}, chaos.Fault{
		Delay: chaos.Exponential(50*time.Millisecond, time.Second, 1),
	})
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inj.SetEnabled(r.FormValue("chaos") == "on")
		fmt.Fprintln(w, "chaos enabled:", inj.Enabled())
	})

	w := httptest.NewRecorder()
	admin.ServeHTTP(w, httptest.NewRequest("POST", "/admin?chaos=on", nil))
	fmt.Print(w.Body.String())
	w = httptest.NewRecorder()
	admin.ServeHTTP(w, httptest.NewRequest("POST", "/admin?chaos=off", nil))
	fmt.Print(w.Body.String())
	// Output:
	// chaos enabled: true
	// chaos enabled: false
}

// A Recorder keeps each attempt, and Config.OnInject reports each fault
// as it happens (to logs or metrics).
func ExampleRecorder() {
	rec := &chaos.Recorder{}
	inj := chaos.New(chaos.Config{
		Recorder: rec,
		OnInject: func(_ context.Context, k chaos.Kind, c chaos.Call) { fmt.Println("inject", k, "into", c.Key) },
	}, chaos.Fault{When: chaos.First(1), Action: chaos.Error(chaos.ErrInjected)})

	ctx := resilience.WithKey(context.Background(), "search")
	_ = inj.Do(ctx, func(context.Context) error { return nil })
	_ = inj.Do(ctx, func(context.Context) error { return errors.New("real failure") })
	for _, a := range rec.Attempts() {
		fmt.Println(a)
	}
	// Output:
	// inject error into search
	// call search: chaos: injected fault [error]
	// call search: real failure
}

// Body faults spoil a response that did arrive: the status and headers are
// fine, and the body breaks while it is read.
func ExampleTruncateBody() {
	api := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"items": [1, 2, 3]}`)
	}))
	client := &http.Client{Transport: chaos.Transport(api, chaos.Fault{Action: chaos.TruncateBody(10)})}
	resp, err := client.Get("http://api.test/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("%d %q %v\n", resp.StatusCode, body, err)
	// Output:
	// 200 "{\"items\": " unexpected EOF
}

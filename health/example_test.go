package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/health"
)

// Readiness fed by a breaker, and a drain before shutdown.
func Example() {
	ledger := breaker.New(breaker.Config{Name: "ledger"})
	h := health.New(health.Config{ServiceID: "payments"})
	h.Add("breaker:ledger", "component", health.Breaker(ledger))

	mux := http.NewServeMux()
	mux.Handle("/livez", h.Live())
	mux.Handle("/readyz", h.Ready())
	mux.Handle("/pay", resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "paid")
	}), resilience.HandlerConfig{}, h.Policy()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			fmt.Println(path, resp.StatusCode, "Retry-After:", ra)
			return
		}
		fmt.Println(path, resp.StatusCode)
	}
	get("/readyz")
	ledger.ForceOpen() // the ledger is cut off: not ready
	get("/readyz")
	ledger.Reset()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.Drain(ctx) // SIGTERM: nothing in flight, so at once
	get("/pay")
	get("/readyz")
	get("/livez")
	// Output:
	// /readyz 200
	// /readyz 503
	// /pay 503 Retry-After: 1
	// /readyz 503
	// /livez 200
}

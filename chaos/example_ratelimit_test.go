package chaos_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/resiliencekit/resilience/chaos"
)

// A server that rate-limits one noisy tenant: every request of tenant
// "noisy" after its second answers 429 with Retry-After, the way a real
// rate limiter would. Point the client you test at it (with InProcess, or
// httptest.NewServer) and check that it waits as asked.
func Example_rateLimitedServer() {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	server := chaos.Handler(api, chaos.Fault{
		Match:  chaos.Header("X-Tenant", "noisy"),
		When:   chaos.Script("..x"),
		Action: chaos.Status(http.StatusTooManyRequests, "Retry-After", "1"),
	})

	for _, tenant := range []string{"noisy", "quiet", "noisy", "noisy", "quiet"} {
		req := httptest.NewRequest("GET", "/v1/items", nil)
		req.Header.Set("X-Tenant", tenant)
		w := httptest.NewRecorder()
		server.ServeHTTP(w, req)
		if wait := w.Header().Get("Retry-After"); wait != "" {
			fmt.Println(tenant, w.Code, "Retry-After:", wait)
			continue
		}
		fmt.Println(tenant, w.Code)
	}
	// Output:
	// noisy 200
	// quiet 200
	// noisy 200
	// noisy 429 Retry-After: 1
	// quiet 200
}

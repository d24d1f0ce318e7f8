package chaos_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/retry"
)

// A server gives each tenant 2 requests a minute with a keyed rate limiter
// under resilience.NewHandler, keyed by the X-Tenant header;
// the client retries with backoff. When the server answers 429 with a
// Retry-After longer than the client's MaxDelay, the retry gives up at
// once instead of hammering the server: the recorder in front of the
// server sees one request per call. (How the client waits for a short
// Retry-After is shown in virtual time in docs/testing.md.)
func Example_rateLimitedServer() {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	perTenant := ratelimit.NewGroup(ratelimit.PerWindow(2, time.Minute).Rate, 2, ratelimit.GroupConfig{})
	limited := resilience.NewHandler(api, resilience.HandlerConfig{Key: httpkey.Header("X-Tenant", nil)}, perTenant)
	rec := &chaos.Recorder{}
	server := chaos.New(chaos.Config{Recorder: rec}).Handler(limited) // no faults: it only records
	client := &http.Client{Transport: resilience.Transport(chaos.InProcess(server),
		retry.New(retry.Config{MaxDelay: time.Second, Jitter: retry.JitterNone}))}

	for _, tenant := range []string{"noisy", "quiet", "noisy", "noisy", "quiet"} {
		req, _ := http.NewRequest("GET", "http://api.test/v1/items", nil)
		req.Header.Set("X-Tenant", tenant)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		if wait := resp.Header.Get("Retry-After"); wait != "" {
			fmt.Println(tenant, resp.StatusCode, "Retry-After:", wait)
			continue
		}
		fmt.Println(tenant, resp.StatusCode)
	}
	fmt.Println("requests the server saw:", rec.Len())
	// Output:
	// noisy 200
	// quiet 200
	// noisy 200
	// noisy 429 Retry-After: 30
	// quiet 200
	// requests the server saw: 5
}

// Command quickstart shows the policies of resilience at work against a
// flaky HTTP server running in the same process: no servers to install.
//
//	go run ./examples/quickstart
//
// The server is healthy, then sheds a third of its requests with 503, then
// goes down completely, then recovers; one endpoint hangs. The client rides
// over the shed requests with retries, stops calling the dead server when
// its circuit breaker opens, bounds every attempt with a time limit, and
// closes the breaker again once the server is back. What the policies do is
// logged as it happens: every policy reports to one event stream
// (resilience.Observer), written here with log/slog at Info and above —
// retries, timeouts, rejections and the breaker's state changes.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/chaos"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	// The dependency: an inventory service. chaos injects its failures; the
	// injectors are switched on and off as the story goes on.
	inventory := http.NewServeMux()
	inventory.HandleFunc("/stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s: 42 in stock", r.PathValue("sku"))
	})
	shedding := chaos.Policy(chaos.Fault{
		When:   chaos.Cycle("x.."), // every third request
		Action: chaos.Status(http.StatusServiceUnavailable, "Retry-After", "0"),
	})
	outage := chaos.Policy(chaos.Fault{Action: chaos.Status(http.StatusServiceUnavailable)})
	hang := chaos.Policy(chaos.Fault{Match: chaos.PathPrefix("/stock/slow"), Action: chaos.Hang()})
	shedding.SetEnabled(false)
	outage.SetEnabled(false)
	var requests atomic.Int64 // what reached the server, faults included
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		hang.Handler(outage.Handler(shedding.Handler(inventory))).ServeHTTP(w, r)
	}))
	defer srv.Close()

	// What the policies do, as it happens: one event stream for all of
	// them, logged with log/slog (Info and above: Debug would add every
	// attempt).
	logger := slog.New(slog.NewTextHandler(indent{out}, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the lines short
			}
			return a
		},
	}))
	events := resilience.LogObserver(logger, resilience.LogConfig{})

	// The client: one http.Client whose transport applies, from the outside
	// in, a budget for the whole call, retries, a breaker per host, a cap
	// on concurrent calls and a time limit per attempt.
	breakers := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{
		Name:                "inventory",
		ConsecutiveFailures: 3,
		OpenDuration:        300 * time.Millisecond,
		Observer:            events,
	}})
	defer breakers.Close()
	client := &http.Client{Transport: resilience.Transport(srv.Client().Transport,
		timelimit.New(2*time.Second, timelimit.Config{Name: "call", Observer: events}),
		retry.New(retry.Config{
			Name: "inventory", MaxRetries: 3, InitialDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
			Observer: events,
		}),
		breakers,
		bulkhead.New(8, bulkhead.Config{Name: "inventory", Observer: events}),
		timelimit.New(150*time.Millisecond, timelimit.Config{Name: "attempt", Observer: events}),
	)}
	defer client.CloseIdleConnections()

	get := func(path string) {
		start := time.Now()
		before := requests.Load()
		resp, err := client.Get(srv.URL + path)
		took := time.Since(start).Round(10 * time.Millisecond)
		sent := requests.Load() - before
		if err != nil {
			fmt.Fprintf(out, "  GET %-12s %d requests sent, failed after %v: %s\n", path, sent, took, explain(err))
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "  GET %-12s %d requests sent, %d %q in %v\n",
			path, sent, resp.StatusCode, strings.TrimSpace(string(body)), took)
	}

	fmt.Fprintln(out, "1. healthy server")
	get("/stock/apple")

	fmt.Fprintln(out, "2. server sheds every third request with 503: retries hide it")
	shedding.SetEnabled(true)
	for _, sku := range []string{"apple", "pear", "plum", "fig"} {
		get("/stock/" + sku)
	}
	shedding.SetEnabled(false)

	fmt.Fprintln(out, "3. one endpoint hangs: each attempt is cut at 150 ms")
	get("/stock/slow")
	breakers.Get(hostOf(srv.URL)).Reset() // forget the timeouts for the next act

	fmt.Fprintln(out, "4. server down: the breaker opens and calls fail fast")
	outage.SetEnabled(true)
	for i := 0; i < 3; i++ {
		get("/stock/apple")
	}

	fmt.Fprintln(out, "5. server back: after the open duration a probe closes the breaker")
	outage.SetEnabled(false)
	time.Sleep(350 * time.Millisecond)
	get("/stock/apple")
	get("/stock/pear")
	return nil
}

// explain names the policy that ended a call.
func explain(err error) string {
	var open *breaker.OpenError
	var exhausted *retry.ExhaustedError
	why := err.Error()
	switch {
	case errors.As(err, &open):
		why = fmt.Sprintf("circuit open, next probe in %v", open.RetryAfter().Round(10*time.Millisecond))
	case errors.Is(err, timelimit.ErrTimeout):
		why = "timed out"
	}
	if errors.As(err, &exhausted) {
		why = fmt.Sprintf("retry gave up after %d attempts (%s): %s", exhausted.Attempts, exhausted.Reason, why)
	}
	return why
}

// indent writes the log lines of the event stream under the requests
// they belong to.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := io.WriteString(i.w, "      event: "); err != nil {
		return 0, err
	}
	return i.w.Write(p)
}

func hostOf(url string) string {
	return strings.TrimPrefix(url, "http://")
}

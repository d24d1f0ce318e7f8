// Command observability shows what the policies of resilience tell
// OpenTelemetry, Prometheus, a load balancer and the logs, in one process
// with nothing to install:
//
//	go run ./examples/observability -addr localhost:8080
//	curl localhost:8080/quote?sku=apple   # 200
//	curl localhost:8080/quote?sku=flaky   # 200 after a retry
//	curl localhost:8080/quote?sku=down    # 503: the retries fail, the breaker opens
//	curl -i localhost:8080/readyz         # 503 while the breaker is open
//	curl localhost:8080/metrics           # resilience_events_total, resilience_breaker_state, ...
//
// The service answers GET /quote by calling a pricing dependency (an
// in-process server that fails for sku "down", and every other time for
// sku "flaky") through an http.Client whose transport retries, and runs
// each attempt through a circuit breaker and a bulkhead. The policies have
// one Observer: resilienceotel's, which counts their events and measures
// their attempts and calls for the OTel Prometheus exporter at /metrics
// (with the state of the breaker and the bulkhead as gauges) and marks the
// span of each request, and resilience.LogObserver, whose JSON lines carry
// the trace_id and span_id of the request (resilienceotel.LogHandler).
// /healthz is the liveness and /readyz the readiness of package health,
// which fails while the breaker is open.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/health"
	"github.com/resiliencekit/resilience/resilienceotel"
	"github.com/resiliencekit/resilience/retry"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		fmt.Fprintf(os.Stderr, "observability: serving on http://%s (/quote?sku=apple, /metrics, /healthz, /readyz)\n", ln.Addr())
		err = run(ctx, ln, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "observability:", err)
		os.Exit(1)
	}
}

// Settings of the policies, short so that the story is quick to see.
const (
	maxRetries          = 2 // three attempts
	consecutiveFailures = 3 // one call to sku "down" opens the breaker
	openDuration        = 30 * time.Second
	maxConcurrent       = 8 // calls to pricing at once
)

// run serves on ln until ctx is done, logging to logs, and stops all it
// started.
func run(ctx context.Context, ln net.Listener, logs io.Writer) (err error) {
	// Metrics: the OTel SDK with the Prometheus exporter, on a registry of
	// its own, names in Prometheus style (resilience_events_total).
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	// Traces: spans are made and recorded (their ids reach the logs, the
	// policies' events reach the spans); a real service adds an exporter.
	tp := sdktrace.NewTracerProvider()
	defer func() {
		err = errors.Join(err, mp.Shutdown(context.Background()), tp.Shutdown(context.Background()))
	}()
	tracer := tp.Tracer("github.com/resiliencekit/resilience/examples/observability")

	// One observer for every policy: OpenTelemetry, and the logs (Info and
	// above: retries, rejections, state changes) with the trace ids.
	otelObs := resilienceotel.New(resilienceotel.Config{MeterProvider: mp})
	logger := slog.New(resilienceotel.LogHandler(slog.NewJSONHandler(logs, nil)))
	obs := resilience.Observers(otelObs, resilience.LogObserver(logger, resilience.LogConfig{}))

	pricing := httptest.NewServer(pricingService())
	defer pricing.Close()

	brk := breaker.New(breaker.Config{
		Name:                "pricing",
		ConsecutiveFailures: consecutiveFailures,
		OpenDuration:        openDuration,
		Observer:            obs,
	})
	defer brk.Close()
	states, err := otelObs.RegisterBreaker(brk)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, states.Unregister()) }()
	permits := bulkhead.New(maxConcurrent, bulkhead.Config{Name: "pricing", Observer: obs})
	permitGauges, err := otelObs.RegisterBulkhead(permits)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, permitGauges.Unregister()) }()
	client := &http.Client{Transport: resilience.Transport(pricing.Client().Transport,
		retry.New(retry.Config{
			Name:         "pricing",
			MaxRetries:   maxRetries,
			InitialDelay: 5 * time.Millisecond,
			MaxDelay:     20 * time.Millisecond,
			Observer:     obs,
		}),
		brk,
		permits,
	)}
	defer client.CloseIdleConnections()

	h := health.New(health.Config{ServiceID: "quotes"})
	h.Add("breaker:pricing", "component", health.Breaker(brk))
	h.Add("bulkhead:pricing", "component", health.Bulkhead(permits))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", h.Live())
	mux.Handle("GET /readyz", h.Ready())
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "GET /quote")
		defer span.End()
		sku := r.URL.Query().Get("sku")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pricing.URL+"/price?sku="+sku, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			logger.ErrorContext(ctx, "quote failed", "sku", sku, "error", err.Error())
			http.Error(w, "pricing unavailable", http.StatusServiceUnavailable)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "pricing unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.Copy(w, resp.Body)
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	<-served
	return err
}

// pricingService is the dependency: it prices every sku, except that it
// answers 503 for sku "down" always and for sku "flaky" every other time.
func pricingService() http.Handler {
	var mu sync.Mutex
	flaky := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sku := r.URL.Query().Get("sku")
		fail := sku == "down"
		if sku == "flaky" {
			mu.Lock()
			flaky++
			fail = flaky%2 == 1
			mu.Unlock()
		}
		if fail {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s: 4.20\n", sku)
	})
}

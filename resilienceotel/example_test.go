package resilienceotel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/resilienceotel"
)

// A breaker that opens and rejects a call, its events counted and its
// state reported as a gauge. A service would give the MeterProvider a
// Prometheus exporter or an OTLP one instead of the manual reader.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(ctx) }()

	obs := resilienceotel.New(resilienceotel.Config{MeterProvider: mp})
	b := breaker.New(breaker.Config{Name: "ledger", ConsecutiveFailures: 1, Observer: obs})
	defer b.Close()
	reg, err := obs.RegisterBreaker(b)
	if err != nil {
		panic(err)
	}
	defer func() { _ = reg.Unregister() }()

	_ = b.Do(ctx, func(context.Context) error { return errors.New("ledger down") }) // opens the breaker
	_ = b.Do(ctx, func(context.Context) error { return nil })                       // rejected

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range data.DataPoints {
				name, _ := p.Attributes.Value("event.name")
				lines = append(lines, fmt.Sprintf("%s{event.name=%s} %d", m.Name, name.AsString(), p.Value))
			}
		case metricdata.Gauge[int64]:
			for _, p := range data.DataPoints {
				lines = append(lines, fmt.Sprintf("%s %d", m.Name, p.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// resilience.breaker.state 2
	// resilience.events{event.name=rejected} 1
	// resilience.events{event.name=state_change} 1
}

// The log lines of resilience.LogObserver carry the ids of the span in
// the event's context.
func ExampleLogHandler() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	})
	obs := resilience.LogObserver(slog.New(resilienceotel.LogHandler(h)), resilience.LogConfig{})

	// The context of a call traced by another service (its traceparent).
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
	obs.Observe(ctx, resilience.Event{Kind: resilience.EventReject, Policy: "breaker", Name: "ledger", Reason: "open"})
	// Output:
	// level=WARN msg="resilience: rejected" policy=breaker name=ledger reason=open trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}

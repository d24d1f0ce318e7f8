package resilienceotel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience/resilienceotel"
)

// env is an Observer on the real SDK: a meter provider with a manual
// reader, and a tracer provider that exports synchronously to memory.
type env struct {
	obs    *resilienceotel.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	tracer trace.Tracer
}

func newEnv(t testing.TB, c resilienceotel.Config) *env {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() {
		require.NoError(t, mp.Shutdown(context.Background()))
		require.NoError(t, tp.Shutdown(context.Background()))
	})
	c.MeterProvider = mp
	return &env{obs: resilienceotel.New(c), reader: reader, spans: exp, tracer: tp.Tracer("test")}
}

// collect returns the metrics of the Observer's scope by name.
func (e *env) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, resilienceotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// metric returns the metric name, which must have been collected.
func (e *env) metric(t *testing.T, name string) metricdata.Metrics {
	t.Helper()
	m, ok := e.collect(t)[name]
	require.True(t, ok, "no metric %s", name)
	return m
}

func assertMetric(t *testing.T, want, got metricdata.Metrics) {
	t.Helper()
	metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

type attributeKV = attribute.KeyValue

func set(kv ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kv...) }

// eventsMetric is resilience.events with the points given.
func eventsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "resilience.events",
		Description: "Events of the resilience policies: attempts, retries, rejections, state changes, timeouts, cache hits, ...",
		Unit:        "{event}",
		Data: metricdata.Sum[int64]{
			DataPoints:  points,
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
		},
	}
}

func count(n int64, kv ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: set(kv...), Value: n}
}

// bounds are the bucket boundaries of the duration histograms.
var bounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// hist is a histogram point of the values vs, in seconds, with the
// bucket counts written out: buckets[i] is the count of bucket i (upper
// bound bounds[i], inclusive; the last one unbounded).
func hist(attrs attribute.Set, buckets map[int]uint64, vs ...float64) metricdata.HistogramDataPoint[float64] {
	p := metricdata.HistogramDataPoint[float64]{
		Attributes:   attrs,
		Count:        uint64(len(vs)),
		Bounds:       bounds,
		BucketCounts: make([]uint64, len(bounds)+1),
		Min:          metricdata.NewExtrema(vs[0]),
		Max:          metricdata.NewExtrema(vs[0]),
	}
	for i, n := range buckets {
		p.BucketCounts[i] = n
	}
	lo, hi := vs[0], vs[0]
	for _, v := range vs {
		p.Sum += v
		lo, hi = min(lo, v), max(hi, v)
	}
	p.Min, p.Max = metricdata.NewExtrema(lo), metricdata.NewExtrema(hi)
	return p
}

func histMetric(name, desc string, points ...metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        name,
		Description: desc,
		Unit:        "s",
		Data: metricdata.Histogram[float64]{
			DataPoints:  points,
			Temporality: metricdata.CumulativeTemporality,
		},
	}
}

const (
	attemptDesc = "Duration of each attempt of an operation under a retry or a hedge."
	callDesc    = "Duration of a whole call through a retry or a hedge, all attempts and waits included."
)

// Attributes, by the names the package documents.
var (
	eventName  = attribute.Key("event.name").String
	severity   = attribute.Key("event.severity").String
	policyKind = attribute.Key("resilience.policy.kind").String
	policyName = attribute.Key("resilience.policy.name").String
	policyKey  = attribute.Key("resilience.policy.key").String
	outcome    = attribute.Key("resilience.outcome").String
	reason     = attribute.Key("resilience.reason").String
	stateFrom  = attribute.Key("resilience.state.from").String
	stateTo    = attribute.Key("resilience.state.to").String
	attemptNum = attribute.Key("resilience.attempt.number").Int
	durationS  = attribute.Key("resilience.duration").Float64
	countAttr  = attribute.Key("resilience.count").Int
	errorType  = attribute.Key("error.type").String
)

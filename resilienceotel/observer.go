package resilienceotel

import (
	"context"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience"
)

// ScopeName is the instrumentation scope of the meter: the import path of
// this package.
const ScopeName = "github.com/resiliencekit/resilience/resilienceotel"

// MaxAttemptNumber is the largest value of resilience.attempt.number on a
// metric: a later attempt is reported as MaxAttemptNumber, so that a retry
// without a bound on its attempts cannot make series without end. Span
// events carry the attempt's own number.
const MaxAttemptNumber = 10

// MaxCachedSets bounds the attribute sets an Observer keeps, one per
// combination of attributes it has seen. Past it an event builds its set
// each time (a few allocations), as it must with more keys than that when
// Config.Keys is set.
const MaxCachedSets = 4096

// Config configures [New]. The zero value is ready to use.
type Config struct {
	// MeterProvider makes the meter of the metrics. Nil means the global
	// one, otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Keys adds the event's Key (the key of a Group: a host, a client) to
	// the metrics of events as resilience.policy.key. Off by default: a
	// group's keys are as many as its MaxKeys, and each is a series of its
	// own on every metric. Span events always carry the key.
	Keys bool
	// ErrorType classifies a failure for the error.type attribute. It
	// must return one of a few values, never the error's text: each value
	// is a series of its own. "" means the default classification (see the
	// package documentation).
	ErrorType func(error) string
}

// Observer is a resilience.Observer that counts the events of the
// policies and measures their durations as OpenTelemetry metrics, adds
// them as events to the span in the event's context, and sets the span
// attributes of the resilience proposal (see the package documentation).
// It also reports the state of policies as observable instruments:
// [Observer.RegisterBreaker] and the other Register methods.
//
// Make one with [New]; it is safe for concurrent use, and one Observer
// serves every policy of a process.
type Observer struct {
	meter     metric.Meter
	events    metric.Int64Counter
	attempts  metric.Float64Histogram
	calls     metric.Float64Histogram
	keys      bool
	errorType func(error) string
	sets      readMostly[setKey, *measures]
	types     readMostly[typeKey, string]
	gauges    gauges
}

// durationBuckets are the bucket boundaries, in seconds, of the duration
// histograms: those the semantic conventions advise for
// http.client.request.duration.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// New returns an Observer that reports to c.MeterProvider. An instrument
// the provider fails to make is reported to otel.Handle and left out (its
// measurements are dropped), as OpenTelemetry instrumentations do.
func New(c Config) *Observer {
	mp := c.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	o := &Observer{meter: m, keys: c.Keys, errorType: c.ErrorType}
	var err error
	if o.events, err = m.Int64Counter("resilience.events",
		metric.WithDescription("Events of the resilience policies: attempts, retries, rejections, state changes, timeouts, cache hits, ..."),
		metric.WithUnit("{event}")); err != nil {
		otel.Handle(err)
		o.events = noop.Int64Counter{}
	}
	if o.attempts, err = m.Float64Histogram("resilience.attempt.duration",
		metric.WithDescription("Duration of each attempt of an operation under a retry or a hedge."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		otel.Handle(err)
		o.attempts = noop.Float64Histogram{}
	}
	if o.calls, err = m.Float64Histogram("resilience.call.duration",
		metric.WithDescription("Duration of a whole call through a retry or a hedge, all attempts and waits included."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		otel.Handle(err)
		o.calls = noop.Float64Histogram{}
	}
	o.gauges.init(m)
	return o
}

// Observe records e: it counts it, records the duration of an attempt or
// a call, and, when the span in ctx is recording, adds e to it as an
// event and sets the proposal's attributes on it. With the attribute sets
// of e's kind of event already seen, it allocates nothing when the span
// does not record.
func (o *Observer) Observe(ctx context.Context, e resilience.Event) {
	var errType string
	if e.Err != nil {
		errType = o.classify(e.Err)
	}
	m := o.measures(&e, errType)
	o.events.Add(ctx, 1, m.add...)
	switch e.Kind {
	case resilience.EventAttempt:
		o.attempts.Record(ctx, e.Duration.Seconds(), m.rec...)
	case resilience.EventDone:
		o.calls.Record(ctx, e.Duration.Seconds(), m.rec...)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		addSpanEvent(span, &e, errType)
	}
}

// Outcomes of the events whose Err tells a success from a failure.
const (
	noOutcome uint8 = iota
	success
	failure
)

var outcomeNames = [...]string{success: "success", failure: "failure"}

// outcome returns the outcome of e, for the kinds that have one.
func outcome(e *resilience.Event) uint8 {
	switch e.Kind {
	case resilience.EventAttempt, resilience.EventDone, resilience.EventCacheLoad, resilience.EventPublish:
		if e.Err != nil {
			return failure
		}
		return success
	}
	return noOutcome
}

// setKey is what the attribute sets of an event depend on.
type setKey struct {
	kind    resilience.EventKind
	attempt uint8 // capped at MaxAttemptNumber; EventAttempt only
	outcome uint8
	policy  string
	name    string
	key     string // "" unless Config.Keys
	reason  string
	from    string
	to      string
	errType string
}

// measures are the options of the measurements of one setKey, made once.
type measures struct {
	add []metric.AddOption    // resilience.events
	rec []metric.RecordOption // the duration histogram of the kind, if any
}

func (o *Observer) measures(e *resilience.Event, errType string) *measures {
	k := setKey{
		kind:    e.Kind,
		outcome: outcome(e),
		policy:  e.Policy,
		name:    e.Name,
		reason:  e.Reason,
		from:    e.From,
		to:      e.To,
		errType: errType,
	}
	if o.keys {
		k.key = e.Key
	}
	if e.Kind == resilience.EventAttempt {
		k.attempt = uint8(min(max(e.Attempt, 0), MaxAttemptNumber))
	}
	return o.sets.get(k, newMeasures)
}

// Attribute keys. Those of the metrics and span events are in the
// resilience namespace, shaped after Polly's (see the package
// documentation); error.type is the semantic conventions'.
const (
	keyEventName     = attribute.Key("event.name")
	keyEventSeverity = attribute.Key("event.severity")
	keyPolicyKind    = attribute.Key("resilience.policy.kind")
	keyPolicyName    = attribute.Key("resilience.policy.name")
	keyPolicyKey     = attribute.Key("resilience.policy.key")
	keyReason        = attribute.Key("resilience.reason")
	keyStateFrom     = attribute.Key("resilience.state.from")
	keyStateTo       = attribute.Key("resilience.state.to")
	keyOutcome       = attribute.Key("resilience.outcome")
	keyAttempt       = attribute.Key("resilience.attempt.number")
	keyDuration      = attribute.Key("resilience.duration")
	keyCount         = attribute.Key("resilience.count")
	keyErrorType     = semconv.ErrorTypeKey
)

func newMeasures(k setKey) *measures {
	// The attributes every metric of the event has.
	policy := make([]attribute.KeyValue, 0, 4)
	policy = append(policy, keyPolicyKind.String(k.policy))
	if k.name != "" {
		policy = append(policy, keyPolicyName.String(k.name))
	}
	if k.key != "" {
		policy = append(policy, keyPolicyKey.String(k.key))
	}
	if k.outcome != noOutcome {
		policy = append(policy, keyOutcome.String(outcomeNames[k.outcome]))
	}
	ev := append(make([]attribute.KeyValue, 0, len(policy)+6), policy...)
	ev = append(ev, keyEventName.String(kindName(k.kind)),
		keyEventSeverity.String(severity(k.kind, k.errType != "")))
	if k.reason != "" {
		ev = append(ev, keyReason.String(k.reason))
	}
	if k.from != "" || k.to != "" {
		ev = append(ev, keyStateFrom.String(k.from), keyStateTo.String(k.to))
	}
	if k.errType != "" {
		ev = append(ev, keyErrorType.String(k.errType))
	}
	m := &measures{add: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(ev...))}}
	switch k.kind {
	case resilience.EventAttempt, resilience.EventDone:
		d := policy
		if k.kind == resilience.EventAttempt {
			d = append(d, keyAttempt.Int(int(k.attempt)))
		}
		if k.errType != "" {
			d = append(d, keyErrorType.String(k.errType))
		}
		m.rec = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(d...))}
	}
	return m
}

// kindNames are the names of the kinds of events (EventKind.String), made
// once.
var kindNames = func() []string {
	names := []string{""}
	for k := resilience.EventKind(1); k != 0; k++ {
		s := k.String()
		if strings.HasPrefix(s, "EventKind(") {
			break
		}
		names = append(names, s)
	}
	return names
}()

func kindName(k resilience.EventKind) string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return k.String()
}

// spanEventNames are "resilience." and the kind's name, made once.
var spanEventNames = func() []string {
	names := make([]string, len(kindNames))
	for k := 1; k < len(kindNames); k++ {
		names[k] = "resilience." + kindNames[k]
	}
	return names
}()

// severity is event.severity: the event's Level ([resilience.Event.Level])
// as "debug", "info", "warn" or "error".
func severity(k resilience.EventKind, failed bool) string {
	var err error
	if failed {
		err = errFailed
	}
	switch l := (resilience.Event{Kind: k, Err: err}).Level(); {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

type failedError struct{}

func (failedError) Error() string { return "failed" }

var errFailed error = failedError{}

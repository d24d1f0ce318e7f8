// Package resilienceotel reports what the policies of
// github.com/resiliencekit/resilience do to OpenTelemetry: metrics of
// their events, span events and span attributes on the traced call, gauges
// of their state, and trace ids in their logs.
//
//	otelObs := resilienceotel.New(resilienceotel.Config{}) // the global MeterProvider
//	logObs := resilience.LogObserver(slog.New(resilienceotel.LogHandler(slog.NewJSONHandler(os.Stderr, nil))), resilience.LogConfig{})
//	obs := resilience.Observers(otelObs, logObs)
//
//	b := breaker.New(breaker.Config{Name: "ledger", Observer: obs})
//	r := retry.New(retry.Config{Name: "ledger", Observer: obs})
//	reg, err := otelObs.RegisterBreaker(b) // resilience.breaker.state
//	defer reg.Unregister()
//
// An [Observer] is a resilience.Observer: set it as the Observer of every
// policy's Config (one Observer serves them all). For each event it adds
// one to resilience.events, records the duration of an attempt or a call
// in a histogram, and, when the span of the event's context is recording,
// adds the event to that span and sets on it the attributes that the
// proposal for resilience in the semantic conventions names
// (open-telemetry/semantic-conventions#2355). The span is the caller's:
// the policies make no span of their own, so a policy under otelhttp or
// otelgrpc marks the span of the request it protects. A TracerProvider is
// therefore not needed: the span in the context belongs to whichever
// provider made it.
//
// The names follow the semantic conventions where they have one
// (error.type) and the proposal for span attributes; the rest are shaped
// after Polly's metrics (resilience.polly.strategy.events with
// event.name, event.severity and exception.type;
// resilience.polly.strategy.attempt.duration with attempt.number;
// resilience.polly.pipeline.duration), without "polly", and with the
// policy's kind, name and key in the resilience.policy namespace.
//
// # Metrics
//
// Durations are in seconds, as the semantic conventions want them, with
// the bucket boundaries they advise for HTTP durations (5 ms to 10 s). The
// meter is named [ScopeName].
//
//	name                            instrument                    unit       attributes
//	resilience.events               Int64Counter                  {event}    event.name, event.severity, resilience.policy.kind,
//	                                                                         resilience.policy.name, resilience.policy.key (Config.Keys),
//	                                                                         resilience.outcome, resilience.reason,
//	                                                                         resilience.state.from, resilience.state.to, error.type
//	resilience.attempt.duration     Float64Histogram              s          resilience.policy.kind, resilience.policy.name,
//	                                                                         resilience.policy.key (Config.Keys), resilience.attempt.number,
//	                                                                         resilience.outcome, error.type
//	resilience.call.duration        Float64Histogram              s          resilience.policy.kind, resilience.policy.name,
//	                                                                         resilience.policy.key (Config.Keys), resilience.outcome, error.type
//	resilience.breaker.state        Int64ObservableGauge                     resilience.policy.kind, resilience.policy.name,
//	                                                                         resilience.policy.key (Register...Group: one series per key)
//	resilience.bulkhead.in_flight   Int64ObservableUpDownCounter  {call}     the same
//	resilience.bulkhead.queued      Int64ObservableUpDownCounter  {call}     the same
//	resilience.bulkhead.limit       Int64ObservableUpDownCounter  {call}     the same
//	resilience.ratelimit.tokens     Float64ObservableGauge        {token}    the same
//	resilience.ratelimit.waiting    Int64ObservableUpDownCounter  {call}     resilience.policy.kind, resilience.policy.name
//	resilience.cache.size           Int64ObservableUpDownCounter  {entry}    resilience.policy.kind, resilience.policy.name
//	resilience.cache.hit_ratio      Float64ObservableGauge        1          the same
//	resilience.outbox.backlog       Int64ObservableUpDownCounter  {message}  resilience.policy.kind ("outbox"), resilience.policy.name (its Name, or its table)
//	resilience.outbox.lag           Float64ObservableGauge        s          the same
//	resilience.outbox.dead_letters  Int64ObservableUpDownCounter  {message}  the same
//
// resilience.events counts every event. resilience.attempt.duration
// records the Duration of each EventAttempt (an attempt under a retry or
// a hedge), resilience.call.duration that of each EventDone (the whole
// call: every attempt and wait). The counts that are totals of a state
// (calls in flight, queued, waiting; keys; messages) are observable
// up-down counters, as the semantic conventions make additive counts; the
// others are observable gauges. A Prometheus exporter shows them all as
// gauges, the counter as resilience_events_total and the histograms as
// resilience_attempt_duration_seconds and resilience_call_duration_seconds.
//
// The attributes:
//
//	attribute                   type    value
//	event.name                  string  the event's kind: Event.Kind.String() ("attempt", "retry", "rejected", "state_change", ...)
//	event.severity              string  Event.Level as "debug", "info", "warn" or "error"
//	resilience.policy.kind      string  Event.Policy, the package of the policy ("breaker", "retry", "bulkhead", ...)
//	resilience.policy.name      string  Event.Name, the policy's Config.Name; left out when ""
//	resilience.policy.key       string  Event.Key, the key of a Group; on metrics of events only with Config.Keys,
//	                                    on the Group gauges always (one series per key the group holds: at most its MaxKeys)
//	resilience.outcome          string  "success" or "failure" (Err nil or not), for attempt, done, cache_load and publish events
//	resilience.reason           string  Event.Reason, when set ("open", "full", "budget", ...: each package documents its reasons)
//	resilience.state.from, .to  string  Event.From and Event.To of a state_change ("closed", "open", "half-open", ...)
//	resilience.attempt.number   int     Event.Attempt of an attempt, 1 for the first; on metrics, numbers over
//	                                    MaxAttemptNumber (10) are reported as 10, so that the series are bounded
//	error.type                  string  when Err is not nil: a bounded classification of Err, never its text (below)
//
// error.type is, in this order: what Config.ErrorType returns, if set and
// not ""; what an ErrorType() string method in Err's chain returns (the
// semantic conventions' own way, which semconv.ErrorType reads too); the
// status code of a *resilience.StatusError in the chain ("503"); "timeout"
// for an error matching context.DeadlineExceeded (a time limit, the
// caller's deadline) or one whose Timeout() says true; "canceled" for one
// matching context.Canceled; else the name of Err's type, as
// semconv.ErrorType names it ("*breaker.OpenError", "*net.OpError"), once
// the wrappers of fmt.Errorf and a *retry.ExhaustedError (the last
// attempt's failure is what matters; the event says the retry gave up)
// are peeled off. A program has only so many types, so this is bounded
// too.
//
// # Spans
//
// For each event, when trace.SpanFromContext(ctx).IsRecording(), the span
// gets an event named "resilience." and the kind ("resilience.attempt",
// "resilience.rejected", ...) with the attributes above that apply, the key
// always, the attempt's own number, and resilience.duration (the event's
// Duration in seconds, float) and resilience.count (Event.Count) when set.
// The span also gets the attributes of the proposal for the policy that
// fired it (a later event overwrites an earlier one's):
//
//	policy     attribute             value
//	cache      cache.name            the cache's name
//	           cache.usage           "hit", "miss" or "stale" (a stale value was served; not in the proposal)
//	breaker    circuitbreaker.name   the breaker's name
//	           circuitbreaker.state  the state it changed to, or the state that rejected the call ("open", "half-open", "forced-open")
//	ratelimit  ratelimiter.name      the limiter's name
//	           ratelimiter.result    "rejected", or "acquired" after a wait
//	retry      retry.name            the retry's name
//	           retry.attempt         the number of the attempt that ended or is about to start; of the last one, when done
//	           retry.result          "success" or "failure" when the call is done, "rejected" when the retry budget refused a retry
//	timelimit  timeout.name          the time limit's name
//	           timeout.duration      the limit, in seconds (float), when it expired
//	           timeout.occurred      true when it expired (the proposal spells it timeout.occured)
//
// The other policies (bulkhead, hedge, fallback, chaos, outbox) have no
// names in the proposal: their span events say what they did.
//
// # Gauges
//
// [Observer.RegisterBreaker], RegisterBulkhead, RegisterLimiter,
// RegisterCache and RegisterOutbox report the state of one policy at each
// collection, RegisterBreakerGroup, RegisterBulkheadGroup and
// RegisterLimiterGroup that of each key of a Group. Each returns the
// metric.Registration of its callback: Unregister stops the reports (do it
// before dropping the policy, or the meter keeps it alive). The breaker's
// state is a number, the higher the fewer calls pass: [BreakerClosed] 0,
// [BreakerHalfOpen] 1, [BreakerOpen] 2, [BreakerForcedOpen] 3, and
// [BreakerDisabled] 4 for a breaker turned off by hand (every call
// passes).
//
// # Cost
//
// An event's attribute sets are made the first time its combination of
// policy, name, kind, outcome, reason, states, error.type and attempt
// number is seen, and kept (up to [MaxCachedSets]); after that, Observe of
// an event on a span that does not record allocates nothing (measured for
// a successful attempt by TestObserveAllocs): a counter and a histogram
// update on cached sets, a lookup without a lock. error.type is found by
// walking Err's chain, never by formatting Err. A recording span costs the
// span event and its attributes, as any span event does.
//
// # Logs
//
// [LogHandler] wraps a slog.Handler so that the records logged with the
// context of a traced call carry its trace_id and span_id;
// resilience.LogObserver logs each event with the event's context, so its
// lines join the trace of the call.
package resilienceotel

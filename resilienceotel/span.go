package resilienceotel

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

// The span attributes of the proposal for resilience in the semantic
// conventions (open-telemetry/semantic-conventions#2355). The proposal
// spells timeout.occured; this package spells it right.
const (
	keyCacheName      = attribute.Key("cache.name")
	keyCacheUsage     = attribute.Key("cache.usage")
	keyBreakerName    = attribute.Key("circuitbreaker.name")
	keyBreakerState   = attribute.Key("circuitbreaker.state")
	keyLimiterName    = attribute.Key("ratelimiter.name")
	keyLimiterResult  = attribute.Key("ratelimiter.result")
	keyRetryName      = attribute.Key("retry.name")
	keyRetryResult    = attribute.Key("retry.result")
	keyRetryAttempt   = attribute.Key("retry.attempt")
	keyTimeoutName    = attribute.Key("timeout.name")
	keyTimeoutLimit   = attribute.Key("timeout.duration")
	keyTimeoutOccured = attribute.Key("timeout.occurred")
)

// addSpanEvent adds e to span as an event and sets the proposal's
// attributes of e's policy on span.
func addSpanEvent(span trace.Span, e *resilience.Event, errType string) {
	var buf [12]attribute.KeyValue
	a := append(buf[:0], keyPolicyKind.String(e.Policy))
	if e.Name != "" {
		a = append(a, keyPolicyName.String(e.Name))
	}
	if e.Key != "" {
		a = append(a, keyPolicyKey.String(e.Key))
	}
	if e.Attempt != 0 {
		a = append(a, keyAttempt.Int(e.Attempt))
	}
	if e.Duration != 0 {
		a = append(a, keyDuration.Float64(e.Duration.Seconds()))
	}
	if e.Reason != "" {
		a = append(a, keyReason.String(e.Reason))
	}
	if e.From != "" || e.To != "" {
		a = append(a, keyStateFrom.String(e.From), keyStateTo.String(e.To))
	}
	if e.Count != 0 {
		a = append(a, keyCount.Int(e.Count))
	}
	if o := outcome(e); o != noOutcome {
		a = append(a, keyOutcome.String(outcomeNames[o]))
	}
	if errType != "" {
		a = append(a, keyErrorType.String(errType))
	}
	name := "resilience." + e.Kind.String()
	if int(e.Kind) < len(spanEventNames) && e.Kind != 0 {
		name = spanEventNames[e.Kind]
	}
	span.AddEvent(name, trace.WithAttributes(a...))

	var sbuf [4]attribute.KeyValue
	s := sbuf[:0]
	switch e.Policy {
	case "breaker":
		s = append(s, keyBreakerName.String(e.Name))
		switch e.Kind {
		case resilience.EventStateChange:
			s = append(s, keyBreakerState.String(e.To))
		case resilience.EventReject:
			if oe, ok := errors.AsType[*breaker.OpenError](e.Err); ok {
				s = append(s, keyBreakerState.String(oe.State().String()))
			}
		}
	case "ratelimit":
		s = append(s, keyLimiterName.String(e.Name))
		switch e.Kind {
		case resilience.EventReject:
			s = append(s, keyLimiterResult.String("rejected"))
		case resilience.EventWait:
			s = append(s, keyLimiterResult.String("acquired"))
		}
	case "retry":
		s = append(s, keyRetryName.String(e.Name))
		switch e.Kind {
		case resilience.EventAttempt, resilience.EventRetry:
			s = append(s, keyRetryAttempt.Int(e.Attempt))
		case resilience.EventDone:
			s = append(s, keyRetryAttempt.Int(e.Attempt), keyRetryResult.String(outcomeNames[outcome(e)]))
		case resilience.EventReject:
			s = append(s, keyRetryResult.String("rejected"))
		}
	case "timelimit":
		s = append(s, keyTimeoutName.String(e.Name))
		if e.Kind == resilience.EventTimeout {
			s = append(s, keyTimeoutLimit.Float64(e.Duration.Seconds()), keyTimeoutOccured.Bool(true))
		}
	case "cache":
		s = append(s, keyCacheName.String(e.Name))
		switch e.Kind {
		case resilience.EventCacheHit:
			s = append(s, keyCacheUsage.String("hit"))
		case resilience.EventCacheMiss:
			s = append(s, keyCacheUsage.String("miss"))
		case resilience.EventCacheStale:
			s = append(s, keyCacheUsage.String("stale"))
		}
	default:
		return
	}
	span.SetAttributes(s...)
}

package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// An Observer learns what the policies do. Every policy of this module takes
// one in its Config (Observer); it reports each thing it does — an attempt, a
// retry scheduled, a rejection, a state change, a timeout — as one [Event].
//
// Observe is called synchronously, on the goroutine that did the thing (the
// caller's, for a call) and never with a lock of the policy held, so a slow
// Observe slows the call and an Observe may call the policy's methods. It
// must be safe for concurrent use. ctx is the call's context; an event fired
// outside any call (a breaker's probe timer, a relay's loop) gets the
// context of the goroutine that fired it, as the package's hooks do.
//
// A policy without an Observer pays one nil check per place an event could
// be fired, and allocates nothing for it. [LogObserver] writes events to a
// log/slog Logger; the nested module resilienceotel turns them into
// OpenTelemetry metrics and span events; [Observers] sends them to several.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to an [Observer].
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observers returns an Observer that hands every event to each of os in
// turn. Nil observers are skipped; with none left it returns nil (no
// observer at all, so the policies pay nothing), with one it returns that
// one.
func Observers(os ...Observer) Observer {
	var list []Observer
	for _, o := range os {
		switch o := o.(type) {
		case nil:
		case observers:
			list = append(list, o...)
		default:
			if isNil(o) {
				panic(fmt.Sprintf("resilience: Observers with a nil %T", o))
			}
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return observers(list)
}

type observers []Observer

func (os observers) Observe(ctx context.Context, e Event) {
	for _, o := range os {
		o.Observe(ctx, e)
	}
}

// An Event is one thing a policy did. It is a plain value: an Observer may
// keep it. Which fields are set depends on Kind; each kind's documentation
// says which, and the rest are zero.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Policy is the kind of policy that fired the event, named by its
	// package: "breaker", "bulkhead", "retry", "timelimit", "ratelimit",
	// "hedge", "fallback", "cache", "outbox", "chaos".
	Policy string
	// Name is the policy's Config.Name ("" when it has none).
	Name string
	// Key is the key of the policy's Group entry (a downstream host, a
	// client), "" for a policy outside any group.
	Key string
	// Attempt numbers the attempt an event is about, 1 for the first call
	// of op; for EventDone, the number of attempts made.
	Attempt int
	// Duration is how long something took or will take; each kind says
	// what.
	Duration time.Duration
	// Err is the error the event is about: the failure of an attempt, the
	// rejection returned to the caller.
	Err error
	// Reason is a short snake_case word that tells events of one kind
	// apart: why a call was rejected ("open", "full", "limited", ...), which
	// kind of fallback answered, why a message was dead-lettered. Each
	// package documents its reasons.
	Reason string
	// From and To are the states of an EventStateChange ("closed", "open",
	// "half-open" for a breaker).
	From, To string
	// Count is how many: messages published, the new limit of an
	// EventLimit.
	Count int
}

// EventKind says what an [Event] is about.
type EventKind uint8

// The kinds of events. Each says which fields of the [Event] it sets beyond
// Kind, Policy, Name and Key.
const (
	// EventAttempt: an attempt of op ended (retry, hedge). Attempt is its
	// number, Duration how long it took, Err its failure (nil: success).
	EventAttempt EventKind = iota + 1
	// EventRetry: a retry is scheduled. Attempt is the number of the
	// attempt about to start, Duration the wait before it, Err the failure
	// being retried.
	EventRetry
	// EventDone: a call through a retry or a hedge ended. Attempt is the
	// number of attempts made, Duration how long the whole call took, Err
	// what the caller got (nil: success).
	EventDone
	// EventReject: a policy refused a call without running it (an open
	// breaker, a full bulkhead, a rate limit, an exhausted retry budget).
	// Reason says why, Err is the error the caller got, Duration how long
	// the call waited before the refusal.
	EventReject
	// EventStateChange: a policy changed state (a breaker opened). From and
	// To are the states, Err the failure that caused it, if any.
	EventStateChange
	// EventTimeout: a time limit expired. Duration is the limit, Err the
	// error the caller got.
	EventTimeout
	// EventLate: an operation that a time limit gave up on returned at last.
	// Duration is how long after the limit it returned.
	EventLate
	// EventHedge: a hedge started another attempt. Attempt is its number,
	// Err the failure that started it (nil: the first was only slow).
	EventHedge
	// EventFallback: a fallback answered in place of the operation. Reason
	// is the kind of answer, Err the failure it answered.
	EventFallback
	// EventCacheHit: a cache answered from a fresh entry.
	EventCacheHit
	// EventCacheMiss: a cache had no entry and loads one.
	EventCacheMiss
	// EventCacheStale: a cache answered with a stale entry. Reason says
	// why (the source failed, or a refresh runs behind it), Err the
	// failure, if any.
	EventCacheStale
	// EventCacheLoad: a cache loaded a value from its source. Duration is
	// how long the load took, Err its failure; Reason "not_found" for a
	// load that found nothing (not a failure).
	EventCacheLoad
	// EventWait: a call waited for a permit or a token and got it. Duration
	// is how long it waited.
	EventWait
	// EventLimit: an adaptive limit changed. Count is the new limit.
	EventLimit
	// EventInject: a fault injector injected a fault. Reason is the kind
	// of fault.
	EventInject
	// EventPublish: an outbox relay published messages. Count is how many,
	// Duration how long publishing them took, Err the failure (Count 0).
	EventPublish
	// EventDeadLetter: a message was set aside as undeliverable. Reason
	// says why, Err is the last failure, Attempt how often it was tried.
	EventDeadLetter
	// EventRedrive: dead-lettered messages were sent back for delivery.
	// Count is how many.
	EventRedrive
	eventKinds
)

var eventNames = [eventKinds]string{
	EventAttempt:     "attempt",
	EventRetry:       "retry",
	EventDone:        "done",
	EventReject:      "rejected",
	EventStateChange: "state_change",
	EventTimeout:     "timeout",
	EventLate:        "late",
	EventHedge:       "hedge",
	EventFallback:    "fallback",
	EventCacheHit:    "cache_hit",
	EventCacheMiss:   "cache_miss",
	EventCacheStale:  "cache_stale",
	EventCacheLoad:   "cache_load",
	EventWait:        "wait",
	EventLimit:       "limit",
	EventInject:      "inject",
	EventPublish:     "publish",
	EventDeadLetter:  "dead_letter",
	EventRedrive:     "redrive",
}

// String returns the kind's name in snake_case ("attempt", "rejected",
// "state_change", ...), the event.name of logs and metrics.
func (k EventKind) String() string {
	if k > 0 && k < eventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Level is how much the event matters, for logs: rejections, timeouts,
// stale answers, fallbacks, dead letters and failed calls or loads are
// Warn; state changes, retries, hedges, redrives, limit changes, injected
// faults and late operations are Info; the rest (attempts, hits, misses, waits, publishing) are Debug.
func (e Event) Level() slog.Level {
	switch e.Kind {
	case EventReject, EventTimeout, EventCacheStale, EventFallback, EventDeadLetter:
		return slog.LevelWarn
	case EventDone, EventCacheLoad, EventPublish:
		if e.Err != nil {
			return slog.LevelWarn
		}
		return slog.LevelDebug
	case EventStateChange, EventRetry, EventHedge, EventRedrive, EventLate, EventLimit, EventInject:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

package health

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/outbox"
)

// Breaker returns a check of b: Fail while it is open or forced open (the
// dependency is cut off), Warn while it is half-open (probing), Pass
// otherwise. The observed value is the state's name.
func Breaker(b *breaker.Breaker) Check {
	return func(context.Context) Result {
		s := b.State()
		r := Result{Status: Pass, ObservedValue: s.String()}
		switch s {
		case breaker.Open, breaker.ForcedOpen:
			r.Status, r.Output = Fail, "breaker "+s.String()
		case breaker.HalfOpen:
			r.Status, r.Output = Warn, "breaker half-open: probing"
		}
		return r
	}
}

// Bulkhead returns a check of b: Fail while it is saturated (every permit
// taken and calls queued), Warn while every permit is taken, Pass
// otherwise. The observed value is the calls in flight.
func Bulkhead(b *bulkhead.Bulkhead) Check {
	return func(context.Context) Result {
		m := b.Metrics()
		r := Result{Status: Pass, ObservedValue: m.InFlight, ObservedUnit: "calls"}
		switch {
		case m.InFlight >= m.Limit && m.Queued > 0:
			r.Status, r.Output = Fail, fmt.Sprintf("bulkhead saturated: %d in flight (limit %d), %d queued", m.InFlight, m.Limit, m.Queued)
		case m.InFlight >= m.Limit:
			r.Status, r.Output = Warn, fmt.Sprintf("bulkhead full: %d in flight (limit %d)", m.InFlight, m.Limit)
		}
		return r
	}
}

// OutboxLimits bounds what an outbox may hold before its check fails.
// Every zero field means no bound.
type OutboxLimits struct {
	// MaxBacklog bounds the messages waiting to be published.
	MaxBacklog int64
	// MaxLag bounds the age of the oldest message waiting.
	MaxLag time.Duration
	// MaxDead bounds the messages in the dead-letter table.
	MaxDead int64
	// Every is how long a reading of the outbox's Stats is used before
	// the next probe reads it again (it counts rows). Zero means
	// DefaultOutboxEvery (5 s).
	Every time.Duration
}

// DefaultOutboxEvery is OutboxLimits.Every when it is zero.
const DefaultOutboxEvery = 5 * time.Second

// Outbox returns a check of ob against limits: Fail when its backlog, lag
// or dead letters are over their bounds, or its Stats cannot be read;
// Pass otherwise. The observed value is the backlog. It reads ob.Stats at
// most once per limits.Every, under the probe's context; probes in
// between get the last result.
func Outbox(ob *outbox.Outbox, limits OutboxLimits) Check {
	if limits.MaxBacklog < 0 || limits.MaxLag < 0 || limits.MaxDead < 0 || limits.Every < 0 {
		panic("health: negative OutboxLimits")
	}
	if limits.Every == 0 {
		limits.Every = DefaultOutboxEvery
	}
	var (
		mu   sync.Mutex
		last Result
		at   time.Time
	)
	return func(ctx context.Context) Result {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < limits.Every {
			return last
		}
		st, err := ob.Stats(ctx)
		at = time.Now()
		switch {
		case err != nil:
			last = Result{Status: Fail, Output: "outbox stats: " + err.Error()}
		case limits.MaxBacklog > 0 && st.Backlog > limits.MaxBacklog:
			last = Result{Status: Fail, Output: fmt.Sprintf("outbox backlog %d over %d", st.Backlog, limits.MaxBacklog)}
		case limits.MaxLag > 0 && st.Lag > limits.MaxLag:
			last = Result{Status: Fail, Output: fmt.Sprintf("outbox lag %v over %v", st.Lag.Round(time.Millisecond), limits.MaxLag)}
		case limits.MaxDead > 0 && st.Dead > limits.MaxDead:
			last = Result{Status: Fail, Output: fmt.Sprintf("outbox dead letters %d over %d", st.Dead, limits.MaxDead)}
		default:
			last = Result{Status: Pass}
		}
		last.ObservedValue, last.ObservedUnit = st.Backlog, "messages"
		return last
	}
}

// CacheLimits bounds the age of the data a cache answers with. Every zero
// field means no bound.
//
// A cache answers with fresh values, younger than its TTL, and with stale
// ones: while its source fails (StaleIfError), and, in normal operation,
// within StaleWhileRevalidate past the TTL. Set the bounds above TTL plus
// StaleWhileRevalidate, so that only a source that has failed for a while,
// or an old snapshot served because no load can replace it, passes them.
type CacheLimits struct {
	// WarnAge makes the check Warn while the cache has answered, within
	// the last minute or two, with a stale value older than WarnAge. It
	// must be less than MaxAge when both are set.
	WarnAge time.Duration
	// MaxAge makes the check Fail while the cache has answered, within
	// the last minute or two, with a stale value older than MaxAge.
	MaxAge time.Duration
}

// StaleAger is what [Cache] checks: a *cache.Cache[K, V] of package cache,
// of any K and V, has this method. StaleAge returns the age of the oldest
// value the cache answered with stale within the last cache.StaleWindow
// (one to two minutes), zero when it served nothing stale.
type StaleAger interface {
	StaleAge() time.Duration
}

// Cache returns a check of c against limits: Fail when the oldest value c
// answered a Get with stale in the last minute or two is older than
// limits.MaxAge, Warn when it is older than limits.WarnAge, Pass
// otherwise. The observed value is that age in seconds (unit "s"; 0 when
// nothing was served stale). It reads c.StaleAge on every probe, which
// costs a few atomic loads. Once the source answers again and the cache
// serves fresh values, the check passes again within two minutes.
//
// It panics when c is nil, a limit is negative, or WarnAge is not less
// than MaxAge.
func Cache(c StaleAger, limits CacheLimits) Check {
	if c == nil || reflect.ValueOf(c).Kind() == reflect.Pointer && reflect.ValueOf(c).IsNil() {
		panic("health: Cache with a nil cache")
	}
	switch {
	case limits.WarnAge < 0 || limits.MaxAge < 0:
		panic("health: negative CacheLimits")
	case limits.WarnAge > 0 && limits.MaxAge > 0 && limits.WarnAge >= limits.MaxAge:
		panic(fmt.Sprintf("health: CacheLimits.WarnAge %v is not less than MaxAge %v", limits.WarnAge, limits.MaxAge))
	}
	return func(context.Context) Result {
		age := c.StaleAge()
		r := Result{Status: Pass, ObservedValue: age.Seconds(), ObservedUnit: "s"}
		switch {
		case limits.MaxAge > 0 && age > limits.MaxAge:
			r.Status, r.Output = Fail, fmt.Sprintf("cache served stale data %v old, over %v", age.Round(time.Second), limits.MaxAge)
		case limits.WarnAge > 0 && age > limits.WarnAge:
			r.Status, r.Output = Warn, fmt.Sprintf("cache served stale data %v old, over %v", age.Round(time.Second), limits.WarnAge)
		}
		return r
	}
}

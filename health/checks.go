package health

import (
	"context"
	"fmt"
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

package resilienceotel

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/ratelimit"
)

// The values of resilience.breaker.state: the higher, the fewer calls go
// through, up to BreakerForcedOpen; BreakerDisabled is a breaker turned
// off by hand, which lets every call through.
const (
	BreakerClosed     = 0
	BreakerHalfOpen   = 1
	BreakerOpen       = 2
	BreakerForcedOpen = 3
	BreakerDisabled   = 4
)

// breakerState is the value of resilience.breaker.state for s.
func breakerState(s breaker.State) int64 {
	switch s {
	case breaker.Closed:
		return BreakerClosed
	case breaker.HalfOpen:
		return BreakerHalfOpen
	case breaker.Open:
		return BreakerOpen
	case breaker.ForcedOpen:
		return BreakerForcedOpen
	case breaker.Disabled:
		return BreakerDisabled
	}
	return -1
}

// gauges are the observable instruments of the Register methods.
type gauges struct {
	breakerState   metric.Int64ObservableGauge
	bulkheadFlight metric.Int64ObservableUpDownCounter
	bulkheadQueued metric.Int64ObservableUpDownCounter
	bulkheadLimit  metric.Int64ObservableUpDownCounter
	limiterTokens  metric.Float64ObservableGauge
	limiterWaiting metric.Int64ObservableUpDownCounter
	cacheSize      metric.Int64ObservableUpDownCounter
	cacheHitRatio  metric.Float64ObservableGauge
	outboxBacklog  metric.Int64ObservableUpDownCounter
	outboxLag      metric.Float64ObservableGauge
	outboxDead     metric.Int64ObservableUpDownCounter
}

func (g *gauges) init(m metric.Meter) {
	g.breakerState = int64Gauge(m, "resilience.breaker.state",
		"State of a circuit breaker: 0 closed, 1 half-open, 2 open, 3 forced open, 4 disabled.", "")
	g.bulkheadFlight = int64UpDown(m, "resilience.bulkhead.in_flight",
		"Calls holding a permit of a bulkhead.", "{call}")
	g.bulkheadQueued = int64UpDown(m, "resilience.bulkhead.queued",
		"Calls waiting for a permit of a bulkhead.", "{call}")
	g.bulkheadLimit = int64UpDown(m, "resilience.bulkhead.limit",
		"Concurrency limit in force of a bulkhead (adaptive or fixed).", "{call}")
	g.limiterTokens = float64Gauge(m, "resilience.ratelimit.tokens",
		"Tokens in the bucket of a rate limiter (negative while waiting calls reserved more).", "{token}")
	g.limiterWaiting = int64UpDown(m, "resilience.ratelimit.waiting",
		"Calls waiting for tokens of a rate limiter.", "{call}")
	g.cacheSize = int64UpDown(m, "resilience.cache.size",
		"Keys a cache holds, not-found results included.", "{entry}")
	g.cacheHitRatio = float64Gauge(m, "resilience.cache.hit_ratio",
		"Share of a cache's Gets answered fresh from the cache, since it was made.", "1")
	g.outboxBacklog = int64UpDown(m, "resilience.outbox.backlog",
		"Messages of an outbox waiting to be published.", "{message}")
	g.outboxLag = float64Gauge(m, "resilience.outbox.lag",
		"Age of the oldest message of an outbox waiting to be published.", "s")
	g.outboxDead = int64UpDown(m, "resilience.outbox.dead_letters",
		"Messages in the dead-letter table of an outbox.", "{message}")
}

// int64Gauge, int64UpDown and float64Gauge make the observable instrument
// name of m, described by desc, in unit ("" for none), through made.

func int64Gauge(m metric.Meter, name, desc, unit string) metric.Int64ObservableGauge {
	i, err := m.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
	return made[metric.Int64ObservableGauge](i, err, noop.Int64ObservableGauge{})
}

func int64UpDown(m metric.Meter, name, desc, unit string) metric.Int64ObservableUpDownCounter {
	i, err := m.Int64ObservableUpDownCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
	return made[metric.Int64ObservableUpDownCounter](i, err, noop.Int64ObservableUpDownCounter{})
}

func float64Gauge(m metric.Meter, name, desc, unit string) metric.Float64ObservableGauge {
	i, err := m.Float64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
	return made[metric.Float64ObservableGauge](i, err, noop.Float64ObservableGauge{})
}

// made returns inst, the instrument a Meter made with the failure err. It
// hands a failure to otel.Handle. A provider that failed to make an
// instrument returns nil for it on some implementations: made returns
// none, a no-op instrument, in its place, so that RegisterCallback is not
// handed a nil.
func made[I comparable](inst I, err error, none I) I {
	if err != nil {
		otel.Handle(err)
	}
	var zero I
	if inst == zero {
		return none
	}
	return inst
}

// policySet is the attribute set of a policy's gauges.
func policySet(kind, name, key string, keyed bool) attribute.Set {
	a := make([]attribute.KeyValue, 0, 3)
	a = append(a, keyPolicyKind.String(kind))
	if name != "" {
		a = append(a, keyPolicyName.String(name))
	}
	if keyed {
		a = append(a, keyPolicyKey.String(key))
	}
	return attribute.NewSet(a...)
}

// mustHave panics, as the module's constructors do, when p is nil or a
// typed nil.
func mustHave(what string, p any) {
	isNil := p == nil
	if !isNil {
		switch v := reflect.ValueOf(p); v.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
			isNil = v.IsNil()
		}
	}
	switch {
	case p == nil:
		panic(fmt.Sprintf("resilienceotel: Register%s with a nil %s", what, what))
	case isNil:
		panic(fmt.Sprintf("resilienceotel: Register%s with a nil %T", what, p))
	}
}

// RegisterBreaker reports the state of b as resilience.breaker.state
// (BreakerClosed to BreakerDisabled), with b's kind and name, at each
// collection, until the registration is unregistered. It panics if b is
// nil.
func (o *Observer) RegisterBreaker(b *breaker.Breaker) (metric.Registration, error) {
	mustHave("Breaker", b)
	set := metric.WithAttributeSet(policySet("breaker", b.Name(), "", false))
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		ob.ObserveInt64(o.gauges.breakerState, breakerState(b.State()), set)
		return nil
	}, o.gauges.breakerState)
}

// RegisterBreakerGroup reports the state of each breaker g holds, one
// series per key (resilience.policy.key): at most the group's MaxKeys.
func (o *Observer) RegisterBreakerGroup(g *breaker.Group) (metric.Registration, error) {
	mustHave("BreakerGroup", g)
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		name := g.Name()
		g.Range(func(key string, m breaker.Metrics) bool {
			ob.ObserveInt64(o.gauges.breakerState, breakerState(m.State),
				metric.WithAttributeSet(policySet("breaker", name, key, true)))
			return true
		})
		return nil
	}, o.gauges.breakerState)
}

func (o *Observer) observeBulkhead(ob metric.Observer, m bulkhead.Metrics, set metric.ObserveOption) {
	ob.ObserveInt64(o.gauges.bulkheadFlight, int64(m.InFlight), set)
	ob.ObserveInt64(o.gauges.bulkheadQueued, int64(m.Queued), set)
	ob.ObserveInt64(o.gauges.bulkheadLimit, int64(m.Limit), set)
}

// RegisterBulkhead reports the calls in flight, the calls queued and the
// limit of b (resilience.bulkhead.in_flight, .queued, .limit). It panics
// if b is nil.
func (o *Observer) RegisterBulkhead(b *bulkhead.Bulkhead) (metric.Registration, error) {
	mustHave("Bulkhead", b)
	set := metric.WithAttributeSet(policySet("bulkhead", b.Name(), "", false))
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o.observeBulkhead(ob, b.Metrics(), set)
		return nil
	}, o.gauges.bulkheadFlight, o.gauges.bulkheadQueued, o.gauges.bulkheadLimit)
}

// RegisterBulkheadGroup reports what RegisterBulkhead does for each
// bulkhead g holds, one series per key: at most the group's MaxKeys.
func (o *Observer) RegisterBulkheadGroup(g *bulkhead.Group) (metric.Registration, error) {
	mustHave("BulkheadGroup", g)
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		name := g.Name()
		g.Range(func(key string, m bulkhead.Metrics) bool {
			o.observeBulkhead(ob, m, metric.WithAttributeSet(policySet("bulkhead", name, key, true)))
			return true
		})
		return nil
	}, o.gauges.bulkheadFlight, o.gauges.bulkheadQueued, o.gauges.bulkheadLimit)
}

// RegisterLimiter reports the tokens in l's bucket and the calls waiting
// for them (resilience.ratelimit.tokens, .waiting). It panics if l is nil.
func (o *Observer) RegisterLimiter(l *ratelimit.Limiter) (metric.Registration, error) {
	mustHave("Limiter", l)
	set := metric.WithAttributeSet(policySet("ratelimit", l.Name(), "", false))
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		ob.ObserveFloat64(o.gauges.limiterTokens, l.Tokens(), set)
		ob.ObserveInt64(o.gauges.limiterWaiting, int64(l.Waiting()), set)
		return nil
	}, o.gauges.limiterTokens, o.gauges.limiterWaiting)
}

// RegisterLimiterGroup reports the tokens of each key's bucket that g
// holds, one series per key (at most the group's MaxKeys), and the calls
// waiting on the whole group, without a key.
func (o *Observer) RegisterLimiterGroup(g *ratelimit.Group) (metric.Registration, error) {
	mustHave("LimiterGroup", g)
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		name := g.Name()
		ob.ObserveInt64(o.gauges.limiterWaiting, int64(g.Waiting()),
			metric.WithAttributeSet(policySet("ratelimit", name, "", false)))
		g.Range(func(key string, m ratelimit.Metrics) bool {
			ob.ObserveFloat64(o.gauges.limiterTokens, m.Tokens,
				metric.WithAttributeSet(policySet("ratelimit", name, key, true)))
			return true
		})
		return nil
	}, o.gauges.limiterTokens, o.gauges.limiterWaiting)
}

// Cache is what RegisterCache reads of a cache: a *cache.Cache of any key
// and value types.
type Cache interface {
	Name() string
	Len() int
	Metrics() cache.Metrics
}

// RegisterCache reports the keys c holds (resilience.cache.size) and its
// hit ratio since it was made: its fresh hits over all its Gets
// (resilience.cache.hit_ratio, 0 before the first Get). For the ratio over
// a recent interval, divide the rates of the cache_hit events by those of
// cache_hit, cache_miss and cache_stale (resilience.events). It panics if
// c is nil.
func (o *Observer) RegisterCache(c Cache) (metric.Registration, error) {
	mustHave("Cache", c)
	set := metric.WithAttributeSet(policySet("cache", c.Name(), "", false))
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		ob.ObserveInt64(o.gauges.cacheSize, int64(c.Len()), set)
		m := c.Metrics()
		ratio := 0.0
		if gets := m.Hits + m.Misses + m.StaleServed; gets > 0 {
			ratio = float64(m.Hits) / float64(gets)
		}
		ob.ObserveFloat64(o.gauges.cacheHitRatio, ratio, set)
		return nil
	}, o.gauges.cacheSize, o.gauges.cacheHitRatio)
}

// OutboxStatsTimeout bounds each read of an outbox's Stats by
// RegisterOutbox: a collection (a Prometheus scrape) does not wait longer
// for a database that does not answer.
const OutboxStatsTimeout = 5 * time.Second

// RegisterOutbox reports the backlog, the lag and the dead letters of ob
// (resilience.outbox.backlog, .lag, .dead_letters), named
// (resilience.policy.name) by its Name, or by its table when it has none.
// It reads ob.Stats at each collection, under
// the collection's context and for at most OutboxStatsTimeout; Stats
// counts the rows waiting, so collect every few seconds at most, as a
// periodic reader or a Prometheus scrape does. A failed read is returned
// to the collection, which reports it (the Prometheus exporter to
// otel.Handle), and leaves the outbox's series out of that collection. It
// panics if ob is nil.
func (o *Observer) RegisterOutbox(ob *outbox.Outbox) (metric.Registration, error) {
	mustHave("Outbox", ob)
	name := ob.Name()
	if name == "" {
		name = ob.Table()
	}
	set := metric.WithAttributeSet(policySet("outbox", name, "", false))
	return o.meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, OutboxStatsTimeout)
		defer cancel()
		st, err := ob.Stats(ctx)
		if err != nil {
			return err
		}
		obs.ObserveInt64(o.gauges.outboxBacklog, st.Backlog, set)
		obs.ObserveFloat64(o.gauges.outboxLag, st.Lag.Seconds(), set)
		obs.ObserveInt64(o.gauges.outboxDead, st.Dead, set)
		return nil
	}, o.gauges.outboxBacklog, o.gauges.outboxLag, o.gauges.outboxDead)
}

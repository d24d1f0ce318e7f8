package resilienceotel_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/resilienceotel"
)

func gauge[N int64 | float64](name, desc, unit string, points ...metricdata.DataPoint[N]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: metricdata.Gauge[N]{DataPoints: points}}
}

func upDown(name, desc, unit string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: metricdata.Sum[int64]{
		DataPoints: points, Temporality: metricdata.CumulativeTemporality, IsMonotonic: false,
	}}
}

func point[N int64 | float64](v N, kv ...attributeKV) metricdata.DataPoint[N] {
	return metricdata.DataPoint[N]{Attributes: set(kv...), Value: v}
}

const stateDesc = "State of a circuit breaker: 0 closed, 1 half-open, 2 open, 3 forced open, 4 disabled."

// register returns a function that checks the error of a Register
// method and returns its registration.
func register(t *testing.T) func(metric.Registration, error) metric.Registration {
	return func(reg metric.Registration, err error) metric.Registration {
		t.Helper()
		require.NoError(t, err)
		return reg
	}
}

var errDown = errors.New("down")

func fail(context.Context) error    { return errDown }
func succeed(context.Context) error { return nil }

// The state of a breaker, at each collection, by the documented numbers;
// none once unregistered.
func TestRegisterBreaker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	b := breaker.New(breaker.Config{Name: "ledger", ConsecutiveFailures: 2, OpenDuration: time.Hour})
	defer b.Close()
	reg := register(t)(e.obs.RegisterBreaker(b))
	state := func(v int64) metricdata.Metrics {
		return gauge("resilience.breaker.state", stateDesc, "", point(v, policyKind("breaker"), policyName("ledger")))
	}
	assertMetric(t, state(resilienceotel.BreakerClosed), e.metric(t, "resilience.breaker.state"))
	for range 2 {
		_ = b.Do(context.Background(), fail)
	}
	require.Equal(t, breaker.Open, b.State())
	assertMetric(t, state(resilienceotel.BreakerOpen), e.metric(t, "resilience.breaker.state"))
	b.ForceOpen()
	assertMetric(t, state(resilienceotel.BreakerForcedOpen), e.metric(t, "resilience.breaker.state"))
	b.Disable()
	assertMetric(t, state(resilienceotel.BreakerDisabled), e.metric(t, "resilience.breaker.state"))
	b.Reset()
	assertMetric(t, state(resilienceotel.BreakerClosed), e.metric(t, "resilience.breaker.state"))

	require.NoError(t, reg.Unregister())
	_, ok := e.collect(t)["resilience.breaker.state"]
	assert.False(t, ok, "unregistered")
}

// A group's breakers: one series per key.
func TestRegisterBreakerGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{Name: "hosts", ConsecutiveFailures: 1, OpenDuration: time.Hour}})
	defer g.Close()
	reg := register(t)(e.obs.RegisterBreakerGroup(g))
	defer func() { require.NoError(t, reg.Unregister()) }()
	_ = g.Do(resilience.WithKey(context.Background(), "a.example"), succeed)
	_ = g.Do(resilience.WithKey(context.Background(), "b.example"), fail)
	assertMetric(t, gauge("resilience.breaker.state", stateDesc, "",
		point[int64](resilienceotel.BreakerClosed, policyKind("breaker"), policyName("hosts"), policyKey("a.example")),
		point[int64](resilienceotel.BreakerOpen, policyKind("breaker"), policyName("hosts"), policyKey("b.example")),
	), e.metric(t, "resilience.breaker.state"))
}

// A bulkhead with a call in flight and one queued.
func TestRegisterBulkhead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	b := bulkhead.New(1, bulkhead.Config{Name: "db", MaxWait: resilience.Forever, MaxQueue: 4})
	reg := register(t)(e.obs.RegisterBulkhead(b))
	defer func() { require.NoError(t, reg.Unregister()) }()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_ = b.Do(context.Background(), func(context.Context) error { <-release; return nil })
		})
	}
	require.Eventually(t, func() bool { m := b.Metrics(); return m.InFlight == 1 && m.Queued == 1 }, 10*time.Second, time.Millisecond)
	attrs := []attributeKV{policyKind("bulkhead"), policyName("db")}
	got := e.collect(t)
	assertMetric(t, upDown("resilience.bulkhead.in_flight", "Calls holding a permit of a bulkhead.", "{call}", point[int64](1, attrs...)), got["resilience.bulkhead.in_flight"])
	assertMetric(t, upDown("resilience.bulkhead.queued", "Calls waiting for a permit of a bulkhead.", "{call}", point[int64](1, attrs...)), got["resilience.bulkhead.queued"])
	assertMetric(t, upDown("resilience.bulkhead.limit", "Concurrency limit in force of a bulkhead (adaptive or fixed).", "{call}", point[int64](1, attrs...)), got["resilience.bulkhead.limit"])
	close(release)
	wg.Wait()
	got = e.collect(t)
	assertMetric(t, upDown("resilience.bulkhead.in_flight", "Calls holding a permit of a bulkhead.", "{call}", point[int64](0, attrs...)), got["resilience.bulkhead.in_flight"])
}

func TestRegisterBulkheadGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	g := bulkhead.NewGroup(2, bulkhead.GroupConfig{Config: bulkhead.Config{Name: "tenants"}})
	reg := register(t)(e.obs.RegisterBulkheadGroup(g))
	defer func() { require.NoError(t, reg.Unregister()) }()
	_ = g.Do(resilience.WithKey(context.Background(), "t1"), succeed)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Do(resilience.WithKey(context.Background(), "t2"), func(context.Context) error { <-release; return nil })
	}()
	require.Eventually(t, func() bool { m, _ := g.Metrics("t2"); return m.InFlight == 1 }, 10*time.Second, time.Millisecond)
	got := e.collect(t)
	close(release)
	<-done
	assertMetric(t, upDown("resilience.bulkhead.in_flight", "Calls holding a permit of a bulkhead.", "{call}",
		point[int64](0, policyKind("bulkhead"), policyName("tenants"), policyKey("t1")),
		point[int64](1, policyKind("bulkhead"), policyName("tenants"), policyKey("t2")),
	), got["resilience.bulkhead.in_flight"])
	assertMetric(t, upDown("resilience.bulkhead.limit", "Concurrency limit in force of a bulkhead (adaptive or fixed).", "{call}",
		point[int64](2, policyKind("bulkhead"), policyName("tenants"), policyKey("t1")),
		point[int64](2, policyKind("bulkhead"), policyName("tenants"), policyKey("t2")),
	), got["resilience.bulkhead.limit"])
}

const tokensDesc = "Tokens in the bucket of a rate limiter (negative while waiting calls reserved more)."

// tokens returns the values of resilience.ratelimit.tokens by key, and
// checks the other attributes.
func tokens(t *testing.T, m metricdata.Metrics, name string) map[string]float64 {
	t.Helper()
	assert.Equal(t, tokensDesc, m.Description)
	assert.Equal(t, "{token}", m.Unit)
	out := map[string]float64{}
	for _, p := range m.Data.(metricdata.Gauge[float64]).DataPoints {
		kind, _ := p.Attributes.Value("resilience.policy.kind")
		n, _ := p.Attributes.Value("resilience.policy.name")
		assert.Equal(t, "ratelimit", kind.AsString())
		assert.Equal(t, name, n.AsString())
		k, _ := p.Attributes.Value("resilience.policy.key")
		out[k.AsString()] = p.Value
	}
	return out
}

func TestRegisterLimiter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	l := ratelimit.New(rate.Every(time.Hour), 5, ratelimit.Config{Name: "api"})
	reg := register(t)(e.obs.RegisterLimiter(l))
	defer func() { require.NoError(t, reg.Unregister()) }()
	for range 2 {
		require.NoError(t, l.Do(context.Background(), succeed))
	}
	got := e.collect(t)
	assert.InDelta(t, 3.0, tokens(t, got["resilience.ratelimit.tokens"], "api")[""], 0.01)
	assertMetric(t, upDown("resilience.ratelimit.waiting", "Calls waiting for tokens of a rate limiter.", "{call}",
		point[int64](0, policyKind("ratelimit"), policyName("api"))), got["resilience.ratelimit.waiting"])
}

func TestRegisterLimiterGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	g := ratelimit.NewGroup(rate.Every(time.Hour), 3, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "clients"}})
	reg := register(t)(e.obs.RegisterLimiterGroup(g))
	defer func() { require.NoError(t, reg.Unregister()) }()
	for _, key := range []string{"a", "a", "b"} {
		require.NoError(t, g.Do(resilience.WithKey(context.Background(), key), succeed))
	}
	got := e.collect(t)
	tk := tokens(t, got["resilience.ratelimit.tokens"], "clients")
	require.Len(t, tk, 2)
	assert.InDelta(t, 1.0, tk["a"], 0.01)
	assert.InDelta(t, 2.0, tk["b"], 0.01)
	assertMetric(t, upDown("resilience.ratelimit.waiting", "Calls waiting for tokens of a rate limiter.", "{call}",
		point[int64](0, policyKind("ratelimit"), policyName("clients"))), got["resilience.ratelimit.waiting"])
}

func TestRegisterCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	c := cache.New(func(_ context.Context, id int) (string, error) { return strings.Repeat("x", id), nil },
		cache.Config{Name: "users", TTL: time.Hour})
	defer c.Close()
	reg := register(t)(e.obs.RegisterCache(c))
	defer func() { require.NoError(t, reg.Unregister()) }()
	attrs := []attributeKV{policyKind("cache"), policyName("users")}
	ratio := func(v float64) metricdata.Metrics {
		return gauge("resilience.cache.hit_ratio", "Share of a cache's Gets answered fresh from the cache, since it was made.", "1", point(v, attrs...))
	}
	assertMetric(t, ratio(0), e.metric(t, "resilience.cache.hit_ratio"))
	for _, id := range []int{1, 1, 1, 2} { // miss, hit, hit, miss
		_, err := c.Get(context.Background(), id)
		require.NoError(t, err)
	}
	got := e.collect(t)
	assertMetric(t, ratio(0.5), got["resilience.cache.hit_ratio"])
	assertMetric(t, upDown("resilience.cache.size", "Keys a cache holds, not-found results included.", "{entry}", point[int64](2, attrs...)), got["resilience.cache.size"])
}

// The backlog, lag and dead letters of an outbox, as its Stats reads them
// (from a database/sql driver that answers its two queries); a failed read
// leaves them out and fails the collection.
func TestRegisterOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, resilienceotel.Config{})
	statsDB := &fakeStats{}
	db := sql.OpenDB(statsDB)
	defer db.Close()
	statsDB.backlog.Store(7)
	statsDB.lagMicros.Store(int64(90 * time.Second / time.Microsecond))
	statsDB.dead.Store(2)
	// Named by its Name, or by its table.
	named := outbox.New(db, outbox.Config{Dialect: outbox.SQLite, Table: "orders_outbox", Name: "orders"})
	unnamed := outbox.New(db, outbox.Config{Dialect: outbox.SQLite, Table: "billing_outbox"})
	for _, ob := range []*outbox.Outbox{named, unnamed} {
		reg := register(t)(e.obs.RegisterOutbox(ob))
		defer func() { require.NoError(t, reg.Unregister()) }()
	}
	orders := []attributeKV{policyKind("outbox"), policyName("orders")}
	billing := []attributeKV{policyKind("outbox"), policyName("billing_outbox")}
	got := e.collect(t)
	assertMetric(t, upDown("resilience.outbox.backlog", "Messages of an outbox waiting to be published.", "{message}",
		point[int64](7, orders...), point[int64](7, billing...)), got["resilience.outbox.backlog"])
	assertMetric(t, gauge("resilience.outbox.lag", "Age of the oldest message of an outbox waiting to be published.", "s",
		point(90.0, orders...), point(90.0, billing...)), got["resilience.outbox.lag"])
	assertMetric(t, upDown("resilience.outbox.dead_letters", "Messages in the dead-letter table of an outbox.", "{message}",
		point[int64](2, orders...), point[int64](2, billing...)), got["resilience.outbox.dead_letters"])

	statsDB.fail.Store(true)
	var rm metricdata.ResourceMetrics
	assert.ErrorIs(t, e.reader.Collect(context.Background(), &rm), errStats)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			assert.NotContains(t, m.Name, "outbox", "no series from a failed read")
		}
	}
}

// A database that does not answer holds a collection for
// OutboxStatsTimeout at most (in virtual time).
func TestRegisterOutboxTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, resilienceotel.Config{})
		statsDB := &fakeStats{}
		statsDB.hang.Store(true)
		db := sql.OpenDB(statsDB)
		defer db.Close()
		reg := register(t)(e.obs.RegisterOutbox(outbox.New(db, outbox.Config{Dialect: outbox.SQLite})))
		defer func() { require.NoError(t, reg.Unregister()) }()
		start := time.Now()
		var rm metricdata.ResourceMetrics
		assert.ErrorIs(t, e.reader.Collect(context.Background(), &rm), context.DeadlineExceeded)
		assert.Equal(t, resilienceotel.OutboxStatsTimeout, time.Since(start))
	})
}

// Nil policies panic at registration, as the module's constructors do.
func TestRegisterNil(t *testing.T) {
	t.Parallel()
	o := resilienceotel.New(resilienceotel.Config{})
	assert.PanicsWithValue(t, "resilienceotel: RegisterBreaker with a nil *breaker.Breaker", func() { _, _ = o.RegisterBreaker(nil) })
	assert.PanicsWithValue(t, "resilienceotel: RegisterCache with a nil *cache.Cache[int,int]", func() {
		var c *cache.Cache[int, int]
		_, _ = o.RegisterCache(c)
	})
	assert.PanicsWithValue(t, "resilienceotel: RegisterCache with a nil Cache", func() { _, _ = o.RegisterCache(nil) })
}

var errStats = errors.New("stats: connection lost")

// fakeStats is a database/sql connector that answers the two queries of
// outbox.Stats: the backlog with the oldest message and the time now (in
// microseconds, as the dialects return them), and the dead letters.
type fakeStats struct {
	backlog, lagMicros, dead atomic.Int64
	fail, hang               atomic.Bool
}

func (f *fakeStats) Connect(context.Context) (driver.Conn, error) { return (*statsConn)(f), nil }
func (f *fakeStats) Driver() driver.Driver                        { return nil }

type statsConn fakeStats

func (c *statsConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (c *statsConn) Close() error                        { return nil }
func (c *statsConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }

func (c *statsConn) QueryContext(ctx context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	f := (*fakeStats)(c)
	if f.fail.Load() {
		return nil, errStats
	}
	if f.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	const now = int64(1_800_000_000_000_000)
	if strings.Contains(query, "published_at IS NULL") {
		return &statsRows{row: []driver.Value{f.backlog.Load(), now - f.lagMicros.Load(), now}}, nil
	}
	return &statsRows{row: []driver.Value{f.dead.Load()}}, nil
}

type statsRows struct {
	row  []driver.Value
	done bool
}

func (r *statsRows) Columns() []string { return make([]string, len(r.row)) }
func (r *statsRows) Close() error      { return nil }
func (r *statsRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, r.row)
	return nil
}

// failingMeter fails to make every observable instrument, and returns nil
// for it with the error, as some providers do; it counts the nil
// instruments handed to RegisterCallback.
type failingMeter struct {
	noop.Meter
	nils atomic.Int64
}

var errInstrument = errors.New("instrument refused")

func (*failingMeter) Int64ObservableGauge(string, ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	return nil, errInstrument
}

func (*failingMeter) Int64ObservableUpDownCounter(string, ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	return nil, errInstrument
}

func (*failingMeter) Float64ObservableGauge(string, ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	return nil, errInstrument
}

func (m *failingMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	for _, i := range insts {
		if i == nil {
			m.nils.Add(1)
		}
	}
	return m.Meter.RegisterCallback(f, insts...)
}

type failingProvider struct {
	noop.MeterProvider
	m *failingMeter
}

func (p failingProvider) Meter(string, ...metric.MeterOption) metric.Meter { return p.m }

// An instrument the provider failed to make, and returned nil for, is
// replaced by a no-op one: no Register method hands RegisterCallback a
// nil.
func TestRegisterWithFailedInstruments(t *testing.T) {
	t.Parallel()
	m := &failingMeter{}
	o := resilienceotel.New(resilienceotel.Config{MeterProvider: failingProvider{m: m}})
	regs := []func() (metric.Registration, error){
		func() (metric.Registration, error) { return o.RegisterBreaker(breaker.New(breaker.Config{})) },
		func() (metric.Registration, error) { return o.RegisterBulkhead(bulkhead.New(1, bulkhead.Config{})) },
		func() (metric.Registration, error) { return o.RegisterLimiter(ratelimit.New(1, 1, ratelimit.Config{})) },
		func() (metric.Registration, error) {
			c := cache.New(func(context.Context, int) (int, error) { return 0, nil }, cache.Config{})
			t.Cleanup(c.Close)
			return o.RegisterCache(c)
		},
	}
	for _, reg := range regs {
		r, err := reg()
		require.NoError(t, err)
		require.NoError(t, r.Unregister())
	}
	assert.Zero(t, m.nils.Load())
}

package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

// fakeLimit records the samples it is given and returns a limit set by the
// test.
type fakeLimit struct {
	mu      sync.Mutex
	value   int
	samples []bulkhead.Sample
}

func (f *fakeLimit) NewLimit(int) bulkhead.Limit { return f }

func (f *fakeLimit) Value() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.value
}

func (f *fakeLimit) Observe(s bulkhead.Sample) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples = append(f.samples, s)
	return f.value
}

func (f *fakeLimit) set(v int) {
	f.mu.Lock()
	f.value = v
	f.mu.Unlock()
}

func (f *fakeLimit) taken() []bulkhead.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.samples
	f.samples = nil
	return s
}

func TestAdaptiveSample(t *testing.T) {
	t.Parallel()
	errX := errors.New("x")
	tests := []struct {
		name    string
		err     error
		dropped func(error) bool
		want    bool // Dropped
		skipped bool // not reported at all
	}{
		{name: "success", err: nil},
		{name: "plain failure", err: errX},
		{name: "deadline", err: fmt.Errorf("call: %w", context.DeadlineExceeded), want: true},
		{name: "503", err: &resilience.StatusError{Code: 503}, want: true},
		{name: "429", err: &resilience.StatusError{Code: 429}, want: true},
		{name: "504", err: &resilience.StatusError{Code: 504}, want: true},
		{name: "500", err: &resilience.StatusError{Code: 500}},
		{name: "local rejection (an inner bulkhead, breaker, rate limit)", err: localRejection{}, skipped: true},
		{name: "canceled", err: fmt.Errorf("call: %w", context.Canceled), skipped: true},
		{name: "custom", err: errX, dropped: func(err error) bool { return err == errX }, want: true},
		{name: "custom not", err: context.DeadlineExceeded, dropped: func(err error) bool { return err == errX }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := &fakeLimit{value: 4}
				b := bulkhead.New(4, bulkhead.Config{Adaptive: f, Dropped: tt.dropped})
				release := occupy(b, t.Context(), 1)
				defer release()
				t0 := time.Now()
				err := b.Do(t.Context(), func(context.Context) error {
					time.Sleep(30 * time.Millisecond)
					return tt.err
				})
				assert.Equal(t, tt.err, err)
				got := f.taken()
				if tt.skipped {
					assert.Empty(t, got)
					return
				}
				want := bulkhead.Sample{Start: t0, Latency: 30 * time.Millisecond, InFlight: 2, Dropped: tt.want}
				assert.Equal(t, []bulkhead.Sample{want}, got)
				assert.Equal(t, t0.Add(30*time.Millisecond), got[0].End())
			})
		})
	}
}

func TestAdaptiveLimitApplied(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLimit{value: 1}
		var changes [][2]int
		var b *bulkhead.Bulkhead
		b = bulkhead.New(5, bulkhead.Config{Adaptive: f, MaxQueue: 2, MaxWait: resilience.Forever, OnLimit: func(_ context.Context, old, new int) {
			changes = append(changes, [2]int{old, new})
			_ = b.Metrics() // no lock held
		}})
		assert.Equal(t, 1, b.Metrics().Limit)

		gate := make(chan struct{})
		holder := start(b, t.Context(), func() { <-gate })
		synctest.Wait()
		w1 := start(b, t.Context(), func() { <-gate })
		w2 := start(b, t.Context(), func() { <-gate })
		synctest.Wait()
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Queued: 2, Limit: 1}, b.Metrics())

		f.set(3)
		gate <- struct{}{} // the holder finishes: the limit rises to 3 and both waiters run
		require.NoError(t, (<-holder).err)
		synctest.Wait()
		assert.Equal(t, bulkhead.Metrics{InFlight: 2, Limit: 3}, b.Metrics())

		f.set(99) // clamped to maxConcurrent
		gate <- struct{}{}
		synctest.Wait()
		assert.Equal(t, 5, b.Metrics().Limit)
		f.set(-4) // clamped to 1
		gate <- struct{}{}
		for _, w := range []<-chan result{w1, w2} {
			require.NoError(t, (<-w).err)
		}
		assert.Equal(t, bulkhead.Metrics{Limit: 1}, b.Metrics())
		assert.Equal(t, [][2]int{{1, 3}, {3, 5}, {5, 1}}, changes)
	})
}

// clock hands out samples of calls that run one after the other.
type clock struct{ now time.Time }

func (c *clock) sample(lat time.Duration, inFlight int, dropped bool) bulkhead.Sample {
	s := bulkhead.Sample{Start: c.now, Latency: lat, InFlight: inFlight, Dropped: dropped}
	c.now = c.now.Add(lat)
	return s
}

func TestAIMD(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	l := bulkhead.AIMD{Min: 2, Initial: 10, Latency: 50 * ms}.NewLimit(12)
	assert.Equal(t, 10, l.Value())
	c := &clock{now: time.Unix(1000, 0)}

	for range 11 {
		l.Observe(c.sample(10*ms, 5, false))
	}
	assert.Equal(t, 11, l.Value(), "half busy: +1 per limit's worth of calls")
	for range 100 {
		l.Observe(c.sample(10*ms, 5, false))
	}
	assert.Equal(t, 11, l.Value(), "less than half busy: no growth")
	for range 12 {
		l.Observe(c.sample(10*ms, 6, false))
	}
	assert.Equal(t, 12, l.Value())
	for range 100 {
		l.Observe(c.sample(10*ms, 12, false))
	}
	assert.Equal(t, 12, l.Value(), "capped at maxConcurrent")

	// A burst of drops admitted before the first decrease lowers it once.
	burst := c.now
	assert.Equal(t, 10, l.Observe(c.sample(10*ms, 12, true)), "12 × 0.9")
	for range 5 {
		assert.Equal(t, 10, l.Observe(bulkhead.Sample{Start: burst, Latency: 20 * ms, InFlight: 12, Dropped: true}))
	}
	assert.Equal(t, 9, l.Observe(c.sample(60*ms, 9, false)), "slower than Latency counts as a drop")
	for range 20 {
		l.Observe(c.sample(10*ms, 9, true))
	}
	assert.Equal(t, 2, l.Value(), "never below Min")

	d := bulkhead.AIMD{}.NewLimit(7)
	assert.Equal(t, 7, d.Value(), "starts at maxConcurrent")
	assert.Equal(t, 7, d.Observe(c.sample(time.Hour, 7, false)), "no latency bound by default")
	assert.Equal(t, 6, d.Observe(c.sample(ms, 7, true)))
	for range 50 {
		d.Observe(c.sample(ms, 7, true))
	}
	assert.Equal(t, 1, d.Value(), "Min defaults to 1")
}

func TestGradient(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	c := &clock{now: time.Unix(1000, 0)}
	l := bulkhead.Gradient{Min: 3, Initial: 20, NoLoadWindow: time.Hour}.NewLimit(50)
	assert.Equal(t, 20, l.Value())

	// At the no-load latency with the bulkhead busy, the limit grows to the
	// maximum, by about sqrt(limit)/5 per round of limit/2 calls.
	prev := l.Value()
	for range 500 {
		v := l.Observe(c.sample(10*ms, l.Value(), false))
		assert.GreaterOrEqual(t, v, prev)
		prev = v
	}
	assert.Equal(t, 50, prev)

	// Latency four times the no-load latency: the gradient is at its
	// floor, 0.5, and the limit falls to where limit/2 + sqrt(limit) =
	// limit: 4.
	for range 1000 {
		prev = l.Observe(c.sample(40*ms, l.Value(), false))
	}
	assert.Equal(t, 4, prev)

	// 1.5 times the no-load latency is tolerated (the default tolerance):
	// it grows again.
	for range 1000 {
		prev = l.Observe(c.sample(15*ms, l.Value(), false))
	}
	assert.Equal(t, 50, prev)

	// Twice: it settles where limit·1.5/2 + sqrt(limit) = limit: 16.
	for range 3000 {
		prev = l.Observe(c.sample(20*ms, l.Value(), false))
	}
	assert.InDelta(t, 16, prev, 1)

	// Back to the no-load latency, but not busy: no growth.
	before := prev
	for range 1000 {
		prev = l.Observe(c.sample(10*ms, 1, false))
	}
	assert.Equal(t, before, prev)

	// A drop halves it at once, once per round, down to Min.
	for range 1000 {
		prev = l.Observe(c.sample(10*ms, 50, false))
	}
	require.Equal(t, 50, prev)
	burst := c.now
	assert.Equal(t, 25, l.Observe(c.sample(10*ms, 50, true)))
	for range 5 {
		assert.Equal(t, 25, l.Observe(bulkhead.Sample{Start: burst, Latency: ms, InFlight: 50, Dropped: true}))
	}
	for range 100 {
		prev = l.Observe(c.sample(10*ms, 50, true))
	}
	assert.Equal(t, 3, prev)
}

func TestGradientNoLoadWindow(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	c := &clock{now: time.Unix(1000, 0)}
	l := bulkhead.Gradient{NoLoadWindow: time.Second}.NewLimit(40)
	for range 100 {
		l.Observe(c.sample(10*ms, 40, false))
	}
	// The dependency's latency triples for good: the limit first falls...
	v := 40
	for range 20 {
		v = l.Observe(c.sample(30*ms, l.Value(), false))
	}
	assert.Less(t, v, 40)
	// ...then, after two windows, 30 ms is the new no-load latency.
	for range 400 {
		v = l.Observe(c.sample(30*ms, l.Value(), false))
	}
	assert.Equal(t, 40, v)
}

// TestAdaptiveConverges runs a closed-loop load against a dependency whose
// latency rises with its load above its capacity, and lowers and restores
// that capacity: the limit must come down toward the capacity, go back up
// when it returns, and stay within its bounds.
func TestAdaptiveConverges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		algo bulkhead.Algorithm
	}{
		{"AIMD", bulkhead.AIMD{Min: 2, Latency: 25 * time.Millisecond}},
		{"Gradient", bulkhead.Gradient{Min: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const maxConcurrent, workers = 50, 40
				var capacity, active atomic.Int64
				capacity.Store(1000)
				var lo, hi atomic.Int64
				lo.Store(maxConcurrent)
				b := bulkhead.New(maxConcurrent, bulkhead.Config{Adaptive: tt.algo, OnLimit: func(_ context.Context, _, n int) {
					if int64(n) < lo.Load() {
						lo.Store(int64(n))
					}
					if int64(n) > hi.Load() {
						hi.Store(int64(n))
					}
				}})
				// 10 ms, stretched in proportion to the load above capacity.
				downstream := func(context.Context) error {
					n := active.Add(1)
					defer active.Add(-1)
					time.Sleep(10 * time.Millisecond * time.Duration(max(n, capacity.Load())) / time.Duration(capacity.Load()))
					return nil
				}
				end := time.Now().Add(9 * time.Second)
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						for time.Now().Before(end) {
							if err := b.Do(t.Context(), downstream); err != nil {
								time.Sleep(time.Millisecond)
							}
						}
					})
				}
				time.Sleep(3 * time.Second)
				healthy := b.Metrics().Limit
				capacity.Store(5)
				time.Sleep(3 * time.Second)
				overloaded := b.Metrics().Limit
				capacity.Store(1000)
				time.Sleep(3 * time.Second)
				recovered := b.Metrics().Limit
				wg.Wait()
				t.Logf("limit healthy %d, overloaded %d, recovered %d, range [%d, %d]",
					healthy, overloaded, recovered, lo.Load(), hi.Load())
				assert.GreaterOrEqual(t, healthy, workers)
				assert.LessOrEqual(t, overloaded, 20)
				assert.GreaterOrEqual(t, recovered, workers)
				assert.GreaterOrEqual(t, lo.Load(), int64(2))
				assert.LessOrEqual(t, hi.Load(), int64(maxConcurrent))
			})
		})
	}
}

// OnLimit gets the context of the call whose outcome moved the limit, so
// that a log line can carry its trace.
func TestOnLimitGetsCallersContext(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	f := &fakeLimit{value: 1}
	var got []any
	b := bulkhead.New(5, bulkhead.Config{Adaptive: f, OnLimit: func(ctx context.Context, old, new int) {
		got = append(got, ctx.Value(ctxKey{}), old, new)
	}})
	f.set(3)
	ctx := context.WithValue(t.Context(), ctxKey{}, "trace-1")
	require.NoError(t, b.Do(ctx, func(context.Context) error { return nil }))
	assert.Equal(t, []any{"trace-1", 1, 3}, got)
}

func TestName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", bulkhead.New(1, bulkhead.Config{}).Name())
	assert.Equal(t, "db", bulkhead.New(1, bulkhead.Config{Name: "db"}).Name())
	g := bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: bulkhead.Config{Name: "hosts"}})
	assert.Equal(t, "hosts", g.Name())
}

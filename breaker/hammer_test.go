package breaker_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

// Many goroutines against a breaker that only moves between open and
// half-open (SuccessThreshold is out of reach, the open duration is 1 ns):
// every call that runs is a probe, and no more than MaxProbes may run at
// once — whatever mix of successes, failures, ignored calls and panics.
func TestHammerProbes(t *testing.T) {
	t.Parallel()
	for _, maxProbes := range []int{1, 3} {
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Nanosecond,
			MaxProbes:           maxProbes,
			SuccessThreshold:    1 << 30,
			Classify:            classifyIgnored,
		})
		_ = call(b, fail)
		var inFlight, peak, ran atomic.Int32
		op := func(context.Context) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			ran.Add(1)
			runtime.Gosched()
			switch rand.IntN(10) {
			case 0:
				return errBoom
			case 1:
				return errIgnored
			case 2:
				panic("probe panic")
			}
			return nil
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 2000 {
					func() {
						defer func() { _ = recover() }()
						_ = call(b, op)
					}()
				}
			})
		}
		wg.Wait()
		require.LessOrEqual(t, peak.Load(), int32(maxProbes))
		require.Positive(t, ran.Load())
		require.NotEqual(t, breaker.Closed, b.State())
	}
}

// Every kind of call and every manual control at once: the race detector
// watches, and the counters must add up.
func TestHammerEverything(t *testing.T) {
	t.Parallel()
	cfgs := map[string]breaker.Config{
		"consecutive": {},
		"count":       {WindowCalls: 50, MinCalls: 5},
		"time":        {WindowDuration: 50 * time.Millisecond, Buckets: 5, MinCalls: 5},
		"slow":        {WindowCalls: 50, SlowCall: time.Microsecond, SlowCallRate: 0.9},
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var changes atomic.Int32
			cfg.OpenDuration = 100 * time.Microsecond
			cfg.MaxOpenDuration = time.Millisecond
			cfg.OpenJitter = 0.3
			cfg.MaxProbes = 2
			cfg.SuccessThreshold = 2
			cfg.Classify = classifyIgnored
			cfg.OnStateChange = func(_ context.Context, from, to breaker.State) { changes.Add(1) }
			b := breaker.New(cfg)
			var ran, failed, ignored atomic.Uint64
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 1500 {
						if w == 0 && i%300 == 299 {
							switch i / 300 % 3 {
							case 0:
								b.ForceOpen()
							case 1:
								b.Disable()
							default:
								b.Reset()
							}
						}
						err := call(b, func(context.Context) error {
							ran.Add(1)
							switch rand.IntN(4) {
							case 0:
								failed.Add(1)
								return errBoom
							case 1:
								ignored.Add(1)
								return errIgnored
							}
							return nil
						})
						_ = err
						_ = b.Metrics()
					}
				})
			}
			wg.Wait()
			m := b.Metrics()
			assert.Equal(t, ran.Load()-ignored.Load(), m.Calls)
			assert.Equal(t, failed.Load(), m.Failures)
			assert.Equal(t, ignored.Load(), m.Ignored)
			assert.Equal(t, uint64(8*1500)-ran.Load(), m.Rejections)
			assert.Positive(t, changes.Load())
		})
	}
}

// An open breaker behind resilience.Handler answers 503 with Retry-After.
func TestHandlerAnswers503(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: 90 * time.Second})
	h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}), b)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, breaker.Open, b.State())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "90", rec.Header().Get("Retry-After"))
}

// The closed success path allocates nothing, in every mode, with no
// Observer or with one.
func TestSuccessPathAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	ctx := context.Background()
	for oname, o := range observers() {
		for name, cfg := range map[string]breaker.Config{
			"consecutive": {},
			"count":       {WindowCalls: 100},
			"time":        {WindowDuration: time.Minute},
			"slow":        {WindowCalls: 100, SlowCall: time.Second},
		} {
			cfg.Observer = o
			b := breaker.New(cfg)
			allocs := testing.AllocsPerRun(1000, func() { _ = b.Do(ctx, ok) })
			assert.Zero(t, allocs, "%s, %s", name, oname)
			g := breaker.NewGroup(breaker.GroupConfig{Config: cfg})
			keyed := resilience.WithKey(ctx, "k")
			allocs = testing.AllocsPerRun(1000, func() { _ = g.Do(keyed, ok) })
			assert.Zero(t, allocs, "group, %s, %s", name, oname)
		}

		// Refusing a new key in a group full of busy breakers allocates
		// nothing either: the error is made once.
		g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 1, Config: breaker.Config{Observer: o}})
		g.Get("a").ForceOpen()
		other := resilience.WithKey(ctx, "b")
		require.ErrorIs(t, g.Do(other, ok), breaker.ErrTooManyKeys)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = g.Do(other, ok) }), "too many keys, %s", oname)
	}
}

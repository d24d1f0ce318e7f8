package bench

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/stretchr/testify/assert"
	"golang.org/x/sync/semaphore"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/timelimit"
)

// The bulkhead benchmarks run a call that succeeds through a bulkhead with
// free permits (scenario "free", the hot path) and the refusal of a full one
// ("full"), serially (BenchmarkBulkhead) and from every CPU at once
// (BenchmarkBulkheadParallel). The peers: x/sync/semaphore's
// TryAcquire+Release around the call (the least a bulkhead can do) and
// failsafe-go's bulkhead in its executor. Scenario "adaptive" shows the cost
// of measuring each call for an adaptive limit (ours only).

type bulkheadImpl struct {
	name string
	run  func() error
}

var (
	bhCtx   = context.Background()
	bhOp    = func(context.Context) error { return nil }
	bhOpErr = func() error { return nil }
)

const bhLimit = 100

func bulkheadFree() []bulkheadImpl {
	ours := bulkhead.New(bhLimit, bulkhead.Config{})
	sem := semaphore.NewWeighted(bhLimit)
	fs := failsafe.With[any](fsbulkhead.New[any](bhLimit))
	return []bulkheadImpl{
		{"resilience", func() error { return ours.Do(bhCtx, bhOp) }},
		{"x-sync-semaphore", func() error {
			if !sem.TryAcquire(1) {
				return bulkhead.ErrFull
			}
			defer sem.Release(1)
			return bhOp(bhCtx)
		}},
		{"failsafe-go", func() error { return fs.Run(bhOpErr) }},
	}
}

// bulkheadFull returns the impls with every permit taken, and a function
// that gives the permits back.
func bulkheadFull() ([]bulkheadImpl, func()) {
	ours := bulkhead.New(1, bulkhead.Config{})
	sem := semaphore.NewWeighted(1)
	fsb := fsbulkhead.New[any](1)
	fs := failsafe.With[any](fsb)

	hold, done := make(chan struct{}), make(chan struct{})
	go func() {
		_ = ours.Do(bhCtx, func(context.Context) error { <-hold; return nil })
		close(done)
	}()
	for ours.Metrics().InFlight == 0 {
		// wait for the holder
	}
	sem.TryAcquire(1)
	fsb.TryAcquirePermit()
	release := func() {
		close(hold)
		<-done
		sem.Release(1)
		fsb.ReleasePermit()
	}
	expectFull := func(err error) error {
		if err == nil {
			return errUnexpectedSuccess
		}
		return nil
	}
	return []bulkheadImpl{
		{"resilience", func() error { return expectFull(ours.Do(bhCtx, bhOp)) }},
		{"x-sync-semaphore", func() error {
			if !sem.TryAcquire(1) {
				return nil
			}
			sem.Release(1)
			return errUnexpectedSuccess
		}},
		{"failsafe-go", func() error { return expectFull(fs.Run(bhOpErr)) }},
	}, release
}

type benchError string

func (e benchError) Error() string { return string(e) }

const errUnexpectedSuccess = benchError("bench: a full bulkhead admitted the call")

func bulkheadScenarios() (map[string][]bulkheadImpl, func()) {
	full, release := bulkheadFull()
	adaptive := bulkhead.New(bhLimit, bulkhead.Config{Adaptive: bulkhead.Gradient{}})
	aimd := bulkhead.New(bhLimit, bulkhead.Config{Adaptive: bulkhead.AIMD{Latency: 50 * time.Millisecond}})
	return map[string][]bulkheadImpl{
		"free": bulkheadFree(),
		"full": full,
		"adaptive-gradient": {
			{"resilience", func() error { return adaptive.Do(bhCtx, bhOp) }},
		},
		"adaptive-aimd": {
			{"resilience", func() error { return aimd.Do(bhCtx, bhOp) }},
		},
	}, release
}

var bulkheadOrder = []string{"free", "full", "adaptive-gradient", "adaptive-aimd"}

func BenchmarkBulkhead(b *testing.B) {
	scenarios, release := bulkheadScenarios()
	defer release()
	for _, sc := range bulkheadOrder {
		for _, impl := range scenarios[sc] {
			b.Run(sc+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := impl.run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkBulkheadParallel(b *testing.B) {
	scenarios, release := bulkheadScenarios()
	defer release()
	for _, sc := range bulkheadOrder {
		for _, impl := range scenarios[sc] {
			b.Run(sc+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := impl.run(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// TestBulkheadOverload is the overload scenario, run in virtual time
// (testing/synctest): a downstream that serves capacity calls at once in
// baseLatency, and slows down beyond that, both because its calls share it
// (latency in proportion to the load) and because they thrash (a further
// thrash per call above capacity); clients that send offered calls per
// second, each with a timeout, and count a call as good when it succeeds
// within it. It compares no bulkhead, a fixed bulkhead at the right size,
// one set too high, and the adaptive limits, and logs goodput and latency:
//
//	go test -run BulkheadOverload -v ./bench
func TestBulkheadOverload(t *testing.T) {
	const (
		capacity    = 10
		baseLatency = 20 * time.Millisecond
		thrash      = 0.02
		offered     = 750 // calls per second: 1.5× the downstream's 500
		timeout     = 250 * time.Millisecond
		warmup      = 2 * time.Second
		measure     = 8 * time.Second
	)
	type scenario struct {
		name    string
		policy  func() resilience.Policy
		goodput float64 // measured, calls per second
	}
	scenarios := []scenario{
		{name: "no bulkhead", policy: func() resilience.Policy { return nil }},
		{name: "fixed 10 (right size)", policy: func() resilience.Policy { return bulkhead.New(capacity, bulkhead.Config{}) }},
		{name: "fixed 100 (too high)", policy: func() resilience.Policy { return bulkhead.New(100, bulkhead.Config{}) }},
		{name: "adaptive gradient ≤100", policy: func() resilience.Policy {
			return bulkhead.New(100, bulkhead.Config{Adaptive: bulkhead.Gradient{}})
		}},
		{name: "adaptive AIMD 50ms ≤100", policy: func() resilience.Policy {
			return bulkhead.New(100, bulkhead.Config{Adaptive: bulkhead.AIMD{Latency: 50 * time.Millisecond}})
		}},
	}
	t.Logf("downstream: capacity %d, %v each, %.0f calls/s at most; offered %d calls/s, timeout %v",
		capacity, baseLatency, capacity/baseLatency.Seconds(), offered, timeout)
	t.Logf("%-24s %9s %6s %7s %7s %7s %7s %12s", "scenario", "goodput/s", "ok", "timeout", "refused",
		"p50 ok", "p99 ok", "p99 admitted")
	for i := range scenarios {
		sc := &scenarios[i]
		synctest.Test(t, func(t *testing.T) {
			var active atomic.Int64
			downstream := func(ctx context.Context) error {
				n := active.Add(1)
				defer active.Add(-1)
				slow := max(1, float64(n)/capacity) * (1 + thrash*max(0, float64(n-capacity)))
				timer := time.NewTimer(time.Duration(float64(baseLatency) * slow))
				defer timer.Stop()
				select {
				case <-timer.C:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			p := resilience.Chain(timelimit.New(timeout, timelimit.Config{}), sc.policy())

			var mu sync.Mutex
			var okLat, admitted []time.Duration // latencies of good calls, of calls not refused
			var timedOut, refused int
			var wg sync.WaitGroup
			begin := time.Now()
			end := begin.Add(warmup + measure)
			for now := begin; now.Before(end); now = time.Now() {
				counted := now.Sub(begin) >= warmup
				wg.Go(func() {
					t0 := time.Now()
					err := p.Do(t.Context(), downstream)
					lat := time.Since(t0)
					if !counted {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, bulkhead.ErrFull):
						refused++
						return
					case err == nil:
						okLat = append(okLat, lat)
					default:
						timedOut++
					}
					admitted = append(admitted, lat)
				})
				time.Sleep(time.Second / offered)
			}
			wg.Wait()
			slices.Sort(okLat)
			slices.Sort(admitted)
			pct := func(lat []time.Duration, p float64) any {
				if len(lat) == 0 {
					return "-"
				}
				return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond)
			}
			sc.goodput = float64(len(okLat)) / measure.Seconds()
			t.Logf("%-24s %9.0f %6d %7d %7d %7v %7v %12v", sc.name, sc.goodput, len(okLat), timedOut, refused,
				pct(okLat, 0.5), pct(okLat, 0.99), pct(admitted, 0.99))
		})
	}
	// Virtual time makes the outcome a property of the algorithms, not of
	// the machine: check that the adaptive limits keep the dependency
	// working where no bulkhead and a fixed one set too high let it
	// collapse.
	most := capacity / baseLatency.Seconds()
	for _, sc := range scenarios[3:] {
		assert.Greater(t, sc.goodput, 0.6*most, sc.name)
		assert.Greater(t, sc.goodput, 2*scenarios[0].goodput, sc.name)
		assert.Greater(t, sc.goodput, 2*scenarios[2].goodput, sc.name)
	}
}

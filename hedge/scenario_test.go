package hedge_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// longTail is a downstream whose attempts take 10 ms 95 % of the time and
// 1 s otherwise, drawn from a seeded source per caller (the attempts of one
// call start at different instants, so each caller's draws come in a fixed
// order). It honours its context.
type longTail struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func (l *longTail) op(ctx context.Context) error {
	l.mu.Lock()
	d := 10 * time.Millisecond
	if l.rnd.Float64() < 0.05 {
		d = time.Second
	}
	l.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tail runs callers×calls calls of p against the long tail and returns the
// latency of each call, sorted.
func tail(t *testing.T, p resilience.Policy, callers, calls int) []time.Duration {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for c := range callers {
		l := &longTail{rnd: rand.New(rand.NewPCG(uint64(c), 14))}
		wg.Go(func() {
			for range calls {
				start := time.Now()
				err := p.Do(context.Background(), l.op)
				d := time.Since(start)
				assert.NoError(t, err)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// The scenario of the issue: a long-tail downstream (95 % of calls 10 ms,
// 5 % 1 s) behind a Hedge with the default adaptive delay (the p95 of the
// latency of successful attempts). The tail is cut: p99 ≤ 3 × p50, for at
// most 10 % more load. Without the hedge, p99 is the 1 s tail.
func TestScenarioLongTail(t *testing.T) {
	t.Parallel()
	const callers, calls = 8, 1000
	synctest.Test(t, func(t *testing.T) {
		base := tail(t, resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			return op(ctx)
		}), callers, calls)
		h := hedge.New(hedge.Config{})
		lat := tail(t, h, callers, calls)
		m := h.Metrics()
		require.EqualValues(t, callers*calls, m.Calls)
		p50, p95, p99 := quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 0.99)
		extra := float64(m.Hedges) / float64(m.Calls)
		t.Logf("without hedge: p50 %v, p95 %v, p99 %v", quantile(base, 0.5), quantile(base, 0.95), quantile(base, 0.99))
		t.Logf("hedged at the adaptive p95 (delay %v): p50 %v, p95 %v, p99 %v, max %v", h.Delay(), p50, p95, p99, lat[len(lat)-1])
		t.Logf("extra load: %d hedges for %d calls = %.2f %%; %d calls won by the hedge",
			m.Hedges, m.Calls, 100*extra, m.HedgeWins)
		assert.LessOrEqual(t, p99, 3*p50, "p99 ≤ 3 × p50")
		assert.LessOrEqual(t, extra, 0.10, "extra load ≤ 10 % of requests")
		assert.Equal(t, time.Second, quantile(base, 0.99), "the tail the hedge cuts")
	})
}

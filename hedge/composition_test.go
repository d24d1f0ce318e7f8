package hedge_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// The usual chain: retry outside the hedge, then a breaker and a time
// limit per attempt inside it, so that each attempt (first or hedge) is
// counted and bounded on its own. Do[T] gets the value of the attempt that
// won the last call of the retry.
func TestChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		steps   []step
		want    int
		wantAt  time.Duration
		starts  []time.Duration
		hedge   hedge.Metrics
		breaker breaker.Metrics // Calls, Failures, Ignored
		retries uint64
	}{
		{
			// The first attempt hangs and is cut by the hedge's success:
			// the breaker ignores the cancelled loser.
			name:  "the hedge wins",
			steps: []step{{latency: time.Hour}, {latency: ms(10)}},
			want:  1, wantAt: ms(30),
			starts:  []time.Duration{0, ms(20)},
			hedge:   hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1},
			breaker: breaker.Metrics{Calls: 1, Ignored: 1},
		},
		{
			// The first attempt times out (50 ms), the hedge fails at once
			// (25 ms): two failures for the breaker, the timeout is the
			// last and goes to the retry, whose retry (after 100 ms)
			// succeeds at first try.
			name:  "both fail, the retry succeeds",
			steps: []step{{latency: time.Hour}, {latency: ms(5), err: errTransient}, {latency: ms(10)}},
			want:  2, wantAt: ms(160),
			starts:  []time.Duration{0, ms(20), ms(150)},
			hedge:   hedge.Metrics{Calls: 2, Hedges: 1},
			breaker: breaker.Metrics{Calls: 3, Failures: 2},
			retries: 1,
		},
		{
			// The first attempt fails at once: the hedge starts at once,
			// not after the delay, and wins.
			name:  "a failure hedges at once",
			steps: []step{{latency: ms(1), err: errTransient}, {latency: ms(10)}},
			want:  1, wantAt: ms(11),
			starts:  []time.Duration{0, ms(1)},
			hedge:   hedge.Metrics{Calls: 1, Hedges: 1, HedgesOnFailure: 1, HedgeWins: 1},
			breaker: breaker.Metrics{Calls: 2, Failures: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := retry.New(retry.Config{MaxRetries: 2, Jitter: retry.JitterNone})
				h := hedge.New(hedge.Config{Delay: ms(20)})
				b := breaker.New(breaker.Config{ConsecutiveFailures: 10})
				defer b.Close()
				p := resilience.Chain(r, h, b, timelimit.New(ms(50), timelimit.Config{}))
				s := newScript(tt.steps...)
				start := time.Now()
				v, err := resilience.Do(t.Context(), p, s.op)
				require.NoError(t, err)
				assert.Equal(t, tt.want, v)
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Equal(t, tt.starts, s.startTimes())
				assert.Equal(t, tt.hedge, h.Metrics())
				m := b.Metrics()
				assert.Equal(t, tt.breaker, breaker.Metrics{Calls: m.Calls, Failures: m.Failures, Ignored: m.Ignored})
				assert.Equal(t, tt.retries, r.Metrics().Retries)
			})
		})
	}
}

package retry_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// TestRetryAfterSpreadsCallers is point 2 of issue 12: 20 callers told by
// the server to come back in 1 s no longer all come back at t = 1.000 s
// (where one would become the probe and 19 be turned away at the same
// instant): each waits a distinct time in [1 s, 1.2 s), never earlier
// than the server asked, never beyond MaxDelay or the time left.
func TestRetryAfterSpreadsCallers(t *testing.T) {
	t.Parallel()
	const callers = 20
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	tests := []struct {
		name     string
		cfg      retry.Config
		deadline time.Duration // of each caller, 0 for none
		lo, hi   time.Duration // every wake in [lo, hi)
		distinct bool
	}{
		{"default: [1s, 1.2s)", retry.Config{}, 0, time.Second, ms(1200), true},
		{"default with JitterNone", retry.Config{Jitter: retry.JitterNone}, 0, time.Second, ms(1200), true},
		{"RetryAfterJitter 0.5: [1s, 1.5s)", retry.Config{RetryAfterJitter: 0.5}, 0, time.Second, ms(1500), true},
		{"RetryAfterJitter 1: [1s, 2s)", retry.Config{RetryAfterJitter: 1}, 0, time.Second, ms(2000), true},
		{"capped by MaxDelay", retry.Config{MaxDelay: ms(1100)}, 0, time.Second, ms(1100), true},
		{"capped by the deadline", retry.Config{}, ms(1050), time.Second, ms(1050), true},
		{"capped by MaxElapsed", retry.Config{MaxElapsed: ms(1020)}, 0, time.Second, ms(1020), true},
		{"None: exactly as the server said", retry.Config{RetryAfterJitter: resilience.None}, 0, time.Second, time.Second + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := retry.New(tt.cfg)
				start := time.Now()
				wakes := make([]time.Duration, callers)
				var wg sync.WaitGroup
				for i := range callers {
					wg.Go(func() {
						ctx := t.Context()
						if tt.deadline > 0 {
							var cancel context.CancelFunc
							ctx, cancel = context.WithTimeout(ctx, tt.deadline)
							defer cancel()
						}
						calls := 0
						err := r.Do(ctx, func(context.Context) error {
							calls++
							if calls == 1 {
								return &resilience.StatusError{Code: 503, Wait: time.Second}
							}
							wakes[i] = time.Since(start)
							return nil
						})
						assert.NoError(t, err)
					})
				}
				wg.Wait()
				seen := map[time.Duration]bool{}
				for _, w := range wakes {
					assert.GreaterOrEqual(t, w, tt.lo, "never earlier than the server asked")
					assert.Less(t, w, tt.hi)
					seen[w] = true
				}
				if tt.distinct {
					assert.Len(t, seen, callers, "every caller wakes at its own instant: %v", wakes)
				} else {
					assert.Len(t, seen, 1)
				}
			})
		})
	}
}

// TestRetryAfterSpreadFormula checks the wait exactly, with a generator
// whose every draw is u: the Retry-After part ra becomes
// ra + u·(hi − ra), hi = min(ra·(1+f), MaxDelay, time left), and the wait
// is the larger of that and the backoff delay (spread by its own Jitter).
func TestRetryAfterSpreadFormula(t *testing.T) {
	t.Parallel()
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	tests := []struct {
		name     string
		cfg      retry.Config
		u        float64
		ra       time.Duration
		deadline time.Duration
		want     time.Duration
	}{
		{"default f, u=0.5", retry.Config{Jitter: retry.JitterNone}, 0.5, time.Second, 0, ms(1100)},
		{"default f, u=0", retry.Config{Jitter: retry.JitterNone}, 0, time.Second, 0, time.Second},
		{"f=1, u=0.5", retry.Config{Jitter: retry.JitterNone, RetryAfterJitter: 1}, 0.5, time.Second, 0, ms(1500)},
		{"full jitter on the backoff, then the spread", retry.Config{}, 0.5, time.Second, 0, ms(1100)},
		{"backoff longer than the spread wins", retry.Config{Jitter: retry.JitterNone, InitialDelay: 2 * time.Second}, 0.5, time.Second, 0, 2 * time.Second},
		{"backoff inside the spread loses to the draw", retry.Config{Jitter: retry.JitterNone, InitialDelay: ms(1050)}, 0.5, time.Second, 0, ms(1100)},
		{"backoff inside the spread beats a small draw", retry.Config{Jitter: retry.JitterNone, InitialDelay: ms(1150)}, 0.5, time.Second, 0, ms(1150)},
		{"capped by MaxDelay", retry.Config{Jitter: retry.JitterNone, MaxDelay: ms(1050)}, 0.5, time.Second, 0, ms(1025)},
		{"Retry-After equal to MaxDelay: no room", retry.Config{Jitter: retry.JitterNone}, 0.5, 10 * time.Second, 0, 10 * time.Second},
		{"capped by the deadline", retry.Config{Jitter: retry.JitterNone}, 0.5, time.Second, ms(1040), ms(1020)},
		{"capped by MaxElapsed", retry.Config{Jitter: retry.JitterNone, MaxElapsed: ms(1080)}, 0.5, time.Second, 0, ms(1040)},
		{"None", retry.Config{Jitter: retry.JitterNone, RetryAfterJitter: resilience.None}, 0.5, time.Second, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var rec delays
				cfg := tt.cfg
				cfg.Rand = fixedRand(tt.u)
				cfg.OnRetry = rec.onRetry
				r := retry.New(cfg)
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				op, _ := failing(1, waitErr(tt.ra))
				start := time.Now()
				require.NoError(t, r.Do(ctx, op))
				assert.Equal(t, []time.Duration{tt.want}, rec.got)
				assert.Equal(t, tt.want, time.Since(start), "Do waits what OnRetry reports")
			})
		})
	}
}

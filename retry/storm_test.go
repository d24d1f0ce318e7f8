package retry_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience/retry"
)

// storm runs 1,000 callers, each sending a request per second, against a
// downstream that is down for the first 60 s (virtual time), then 10 more
// requests each once it is back. It returns the downstream attempts per
// caller request during the outage and the success rate after it.
func storm(t *testing.T, budget retry.Budget) (amplification, recovered float64) {
	const (
		callers  = 1000
		outage   = 60 * time.Second
		interval = time.Second
		after    = 10
	)
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{Budget: budget}) // 3 retries, 100 ms … 400 ms, full jitter
		up := time.Now().Add(outage)
		var downAttempts, downRequests, afterRequests, afterOK atomic.Int64
		op := func(context.Context) error {
			if time.Now().Before(up) {
				downAttempts.Add(1)
				return errTransient
			}
			return nil
		}
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * interval / callers) // spread the callers over a second
				for time.Now().Before(up) {
					downRequests.Add(1)
					_ = r.Do(t.Context(), op)
					time.Sleep(interval)
				}
				for range after {
					afterRequests.Add(1)
					if r.Do(t.Context(), op) == nil {
						afterOK.Add(1)
					}
					time.Sleep(interval)
				}
			})
		}
		wg.Wait()
		amplification = float64(downAttempts.Load()) / float64(downRequests.Load())
		recovered = float64(afterOK.Load()) / float64(afterRequests.Load())
		t.Logf("outage: %d requests, %d attempts (%.4f per request); after: %d/%d succeeded",
			downRequests.Load(), downAttempts.Load(), amplification, afterOK.Load(), afterRequests.Load())
	})
	return amplification, recovered
}

// TestStorm is the test of the retry storm: with a shared token budget the
// downstream sees barely more attempts than the callers make requests
// while it is down, and everything succeeds once it is back.
func TestStorm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		budget func() retry.Budget
		lo, hi float64 // bounds of attempts per request during the outage
	}{
		{"token budget", func() retry.Budget { return retry.NewTokenBudget(10, 0.1) }, 1, 1.1},
		{"ratio budget", func() retry.Budget {
			return retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.05, MinPerSecond: -1})
		}, 1, 1.1},
		{"no budget", func() retry.Budget { return nil }, 3.9, 4}, // 1 + MaxRetries
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			amp, ok := storm(t, tt.budget())
			assert.GreaterOrEqual(t, amp, tt.lo)
			assert.LessOrEqual(t, amp, tt.hi)
			assert.InDelta(t, 1.0, ok, 0, "100 % success after recovery")
		})
	}
}

package retry_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/retry"
)

// TestRetryAroundOpenBreaker is point 1 of issue 12 with a real breaker
// inside the retry: once the breaker opens, the retry ends at once with
// breaker.ErrOpen, whether its next probe is 10 s away (within MaxDelay,
// which the retry used to sleep through) or 11 s (beyond it, which the
// retry used to give up on): no cliff between the two.
func TestRetryAroundOpenBreaker(t *testing.T) {
	t.Parallel()
	for _, open := range []time.Duration{10 * time.Second, 11 * time.Second} {
		t.Run(fmt.Sprintf("OpenDuration %v", open), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: open})
				r := retry.New(retry.Config{Jitter: retry.JitterNone})
				calls := 0
				start := time.Now()
				err := r.Do(t.Context(), func(ctx context.Context) error {
					return b.Do(ctx, func(context.Context) error { calls++; return errTransient })
				})
				assert.Equal(t, 100*time.Millisecond, time.Since(start), "the first backoff delay, then nothing")
				assert.Equal(t, 1, calls, "the dependency saw the one call that opened the breaker")
				require.ErrorIs(t, err, breaker.ErrOpen)
				var ex *retry.ExhaustedError
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, retry.ReasonRejected, ex.Reason)
				assert.Equal(t, 2, ex.Attempts)
			})
		})
	}
}

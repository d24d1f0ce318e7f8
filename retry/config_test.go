package retry_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// constantBackoff returns a Config.Backoff of a constant delay.
func constantBackoff(d time.Duration) func() backoff.BackOff {
	b := backoff.NewConstantBackOff(d)
	return func() backoff.BackOff { return b }
}

// TestNoRetries is point 10 of issue 12: "no retries" can be said.
// Before, MaxRetries: 0 meant 3 and a negative value panicked; now
// resilience.None means none: op is called once, and Do gives up at once.
func TestNoRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		budget := retry.NewTokenBudget(10, 1)
		var rec delays
		r := retry.New(retry.Config{MaxRetries: resilience.None, Budget: budget, OnRetry: rec.onRetry})
		op, calls := failing(100, errTransient)
		start := time.Now()
		err := r.Do(t.Context(), op)
		assert.EqualValues(t, 1, calls.Load())
		assert.Zero(t, time.Since(start))
		assert.Empty(t, rec.got)
		var ex *retry.ExhaustedError
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonMaxRetries, ex.Reason)
		assert.Equal(t, 1, ex.Attempts)
		assert.ErrorIs(t, err, errTransient)
		assert.InDelta(t, 9, budget.Tokens(), 1e-9, "the failure still counts")

		op, calls = failing(0, errTransient)
		require.NoError(t, r.Do(t.Context(), op))
		assert.EqualValues(t, 1, calls.Load())

		// Zero keeps its meaning: DefaultMaxRetries.
		op, calls = failing(100, errTransient)
		_ = retry.New(retry.Config{}).Do(t.Context(), op)
		assert.EqualValues(t, 1+retry.DefaultMaxRetries, calls.Load())
	})
}

// TestNoneFields: every field whose zero means a default other than none
// takes resilience.None for none; the delays show what it did.
func TestNoneFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  retry.Config
		want []time.Duration
	}{
		{"InitialDelay None: retries at once", retry.Config{InitialDelay: resilience.None}, ms(0, 0, 0)},
		{"InitialDelay and MaxDelay None", retry.Config{InitialDelay: resilience.None, MaxDelay: resilience.None}, ms(0, 0, 0)},
		{"JitterFactor None: proportional without spread",
			retry.Config{Jitter: retry.JitterProportional, JitterFactor: resilience.None}, ms(100, 200, 400)},
		{"MaxDelay equal to InitialDelay", retry.Config{Jitter: retry.JitterNone, InitialDelay: 50 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
			ms(50, 50, 50)},
		{"MaxDelay below the default InitialDelay with a Backoff", retry.Config{Jitter: retry.JitterNone, Backoff: constantBackoff(time.Second), MaxDelay: 50 * time.Millisecond},
			ms(50, 50, 50)},
		{"MaxDelay Forever", retry.Config{Jitter: retry.JitterNone, MaxDelay: resilience.Forever}, ms(100, 200, 400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var rec delays
				cfg := tt.cfg
				cfg.Rand = fixedRand(0.5)
				cfg.OnRetry = rec.onRetry
				r := retry.New(cfg)
				op, _ := failing(3, errTransient)
				require.NoError(t, r.Do(t.Context(), op))
				assert.Equal(t, tt.want, rec.got)
			})
		})
	}
}

// TestMaxDelayBoundsRetryAfter: MaxDelay None (with InitialDelay None)
// waits for nothing, so any Retry-After ends the retry; MaxDelay Forever
// waits for any Retry-After the caller's context allows.
func TestMaxDelayBoundsRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{InitialDelay: resilience.None, MaxDelay: resilience.None})
		op, calls := failing(1, waitErr(time.Millisecond))
		var ex *retry.ExhaustedError
		require.ErrorAs(t, r.Do(t.Context(), op), &ex)
		assert.Equal(t, retry.ReasonRetryAfter, ex.Reason)
		assert.EqualValues(t, 1, calls.Load())

		r = retry.New(retry.Config{MaxDelay: resilience.Forever, RetryAfterJitter: resilience.None})
		op, _ = failing(1, waitErr(time.Hour))
		start := time.Now()
		require.NoError(t, r.Do(t.Context(), op))
		assert.Equal(t, time.Hour, time.Since(start))

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		op, _ = failing(1, waitErr(time.Hour))
		require.ErrorAs(t, r.Do(ctx, op), &ex)
		assert.Equal(t, retry.ReasonDeadline, ex.Reason, "still within the caller's deadline")
	})
}

// TestValidConfigs: combinations at the edges that must not panic.
func TestValidConfigs(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]retry.Config{
		"MaxRetries None":            {MaxRetries: resilience.None},
		"RetryAfterJitter None":      {RetryAfterJitter: resilience.None},
		"RetryAfterJitter 1":         {RetryAfterJitter: 1},
		"JitterFactor 1":             {Jitter: retry.JitterProportional, JitterFactor: 1},
		"InitialDelay = MaxDelay":    {InitialDelay: time.Second, MaxDelay: time.Second},
		"Backoff with MaxDelay":      {Backoff: constantBackoff(time.Minute), MaxDelay: time.Millisecond},
		"WaitOnRejection":            {WaitOnRejection: true},
		"interactive":                retry.Interactive(),
		"background":                 retry.Background(),
		"InitialDelay None MaxDelay": {InitialDelay: resilience.None, MaxDelay: time.Millisecond},
	} {
		assert.NotPanics(t, func() { retry.New(cfg) }, name)
	}
}

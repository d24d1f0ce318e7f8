package retry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/retry"
)

// TestDelaySequences checks the exact delays of each backoff and jitter
// kind, with a generator whose every draw is a known u, and that Do really
// waits for them (virtual time).
func TestDelaySequences(t *testing.T) {
	t.Parallel()
	constant := func(d time.Duration) func() backoff.BackOff {
		b := backoff.NewConstantBackOff(d)
		return func() backoff.BackOff { return b }
	}
	tests := []struct {
		name string
		cfg  retry.Config
		u    float64
		want []time.Duration
	}{
		{"default exponential, no jitter", retry.Config{MaxRetries: 5, Jitter: retry.JitterNone},
			0, ms(100, 200, 400, 800, 1600)},
		{"exponential capped by MaxDelay", retry.Config{MaxRetries: 6, Jitter: retry.JitterNone, MaxDelay: 500 * time.Millisecond},
			0, ms(100, 200, 400, 500, 500, 500)},
		{"multiplier 1.5 from 10ms", retry.Config{MaxRetries: 4, Jitter: retry.JitterNone, InitialDelay: 10 * time.Millisecond, Multiplier: 1.5},
			0, ms(10, 15, 22.5, 33.75)},
		{"multiplier 1 is constant", retry.Config{MaxRetries: 3, Jitter: retry.JitterNone, Multiplier: 1},
			0, ms(100, 100, 100)},
		{"full jitter (default), u=0.5", retry.Config{}, 0.5, ms(50, 100, 200)},
		{"full jitter, u=0.25", retry.Config{Jitter: retry.JitterFull}, 0.25, ms(25, 50, 100)},
		{"full jitter after the cap", retry.Config{MaxRetries: 4, MaxDelay: 300 * time.Millisecond}, 0.5, ms(50, 100, 150, 150)},
		{"equal jitter, u=0.5", retry.Config{Jitter: retry.JitterEqual}, 0.5, ms(75, 150, 300)},
		{"equal jitter, u=0", retry.Config{Jitter: retry.JitterEqual}, 0, ms(50, 100, 200)},
		{"proportional default factor, u=0", retry.Config{Jitter: retry.JitterProportional}, 0, ms(50, 100, 200)},
		{"proportional factor 0.2, u=0.75", retry.Config{Jitter: retry.JitterProportional, JitterFactor: 0.2}, 0.75, ms(110, 220, 440)},
		{"proportional is capped", retry.Config{Jitter: retry.JitterProportional, MaxDelay: 200 * time.Millisecond}, 0.75, ms(125, 200, 200)},
		{"decorrelated on a constant backoff, u=0.5",
			retry.Config{Jitter: retry.JitterDecorrelated, Backoff: constant(100 * time.Millisecond)},
			0.5, ms(200, 350, 575)},
		{"decorrelated capped", retry.Config{MaxRetries: 4, Jitter: retry.JitterDecorrelated, Backoff: constant(100 * time.Millisecond), MaxDelay: 400 * time.Millisecond},
			0.5, ms(200, 250, 250, 250)},
		{"decorrelated on the default backoff, u=0", retry.Config{Jitter: retry.JitterDecorrelated}, 0, ms(100, 200, 400)},
		{"user constant backoff, no jitter", retry.Config{Jitter: retry.JitterNone, Backoff: constant(70 * time.Millisecond)},
			0, ms(70, 70, 70)},
		{"user constant backoff capped", retry.Config{Jitter: retry.JitterNone, Backoff: constant(time.Minute), MaxDelay: time.Second},
			0, ms(1000, 1000, 1000)},
		{"user exponential backoff without randomization", retry.Config{
			MaxRetries: 4, Jitter: retry.JitterNone,
			Backoff: func() backoff.BackOff {
				return backoff.NewExponentialBackOff(
					backoff.WithInitialInterval(20*time.Millisecond),
					backoff.WithMultiplier(3),
					backoff.WithRandomizationFactor(0),
					backoff.WithMaxInterval(time.Second))
			}},
			0, ms(20, 60, 180, 540)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var rec delays
				cfg := tt.cfg
				cfg.OnRetry = rec.onRetry
				cfg.Rand = fixedRand(tt.u)
				r := retry.New(cfg)
				op, calls := failing(len(tt.want), errTransient)
				start := time.Now()
				require.NoError(t, r.Do(t.Context(), op))
				assert.Equal(t, tt.want, rec.got)
				assert.EqualValues(t, len(tt.want)+1, calls.Load())
				var total time.Duration
				for _, d := range tt.want {
					total += d
				}
				assert.Equal(t, total, time.Since(start), "Do waits for exactly the delays")
			})
		})
	}
}

// TestJitterBounds draws many delays from a seeded generator and checks
// each kind stays within its bounds, and is reproducible.
func TestJitterBounds(t *testing.T) {
	t.Parallel()
	const retries = 8
	base := func(n int) time.Duration { // default exponential, capped at 10 s
		return min(100*time.Millisecond<<(n-1), 10*time.Second)
	}
	tests := []struct {
		jitter retry.Jitter
		check  func(n int, d, prev time.Duration) bool
	}{
		{retry.JitterNone, func(n int, d, _ time.Duration) bool { return d == base(n) }},
		{retry.JitterFull, func(n int, d, _ time.Duration) bool { return d >= 0 && d < base(n) }},
		{retry.JitterEqual, func(n int, d, _ time.Duration) bool { return d >= base(n)/2 && d < base(n) }},
		{retry.JitterProportional, func(n int, d, _ time.Duration) bool {
			return d >= base(n)/2 && d <= base(n)*3/2
		}},
		{retry.JitterDecorrelated, func(n int, d, prev time.Duration) bool {
			if prev == 0 {
				prev = base(n)
			}
			return d >= base(n) && d <= max(base(n), min(3*prev, 10*time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.jitter.String(), func(t *testing.T) {
			t.Parallel()
			run := func(seed uint64) []time.Duration {
				var all []time.Duration
				synctest.Test(t, func(t *testing.T) {
					var rec delays
					r := retry.New(retry.Config{
						MaxRetries: retries, Jitter: tt.jitter, OnRetry: rec.onRetry,
						Rand: rand.New(rand.NewPCG(seed, 7)),
					})
					for range 50 {
						rec.got = rec.got[:0]
						err := r.Do(t.Context(), func(context.Context) error { return errTransient })
						require.ErrorIs(t, err, retry.ErrExhausted)
						require.Len(t, rec.got, retries)
						var prev time.Duration
						for i, d := range rec.got {
							require.Truef(t, tt.check(i+1, d, prev), "retry %d: delay %v out of bounds", i+1, d)
							prev = d
						}
						all = append(all, rec.got...)
					}
				})
				return all
			}
			first := run(1)
			assert.Equal(t, first, run(1), "same seed, same delays")
			if tt.jitter != retry.JitterNone {
				assert.NotEqual(t, first, run(2), "another seed, other delays")
			}
		})
	}
}

func TestBackoffStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		made := 0
		r := retry.New(retry.Config{
			MaxRetries: 10, Jitter: retry.JitterNone,
			Backoff: func() backoff.BackOff {
				made++
				return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Second), 2)
			},
		})
		op, calls := failing(100, errTransient)
		err := r.Do(t.Context(), op)
		var ex *retry.ExhaustedError
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonBackoffStop, ex.Reason)
		assert.Equal(t, 3, ex.Attempts)
		assert.EqualValues(t, 3, calls.Load())
		assert.Equal(t, 1, made, "one backoff per failing call")

		require.NoError(t, r.Do(t.Context(), func(context.Context) error { return nil }))
		assert.Equal(t, 1, made, "no backoff made for a call that succeeds at once")
		assert.True(t, errors.Is(err, errTransient))
	})
}

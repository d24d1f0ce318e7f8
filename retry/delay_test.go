package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/retry"
)

// TestDelaySequences checks the exact delays of each backoff and jitter
// kind, with a generator whose every draw is a known u, that Do really
// waits for them (virtual time), and that Schedule and Delay give the same.
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

				s := r.Schedule()
				for i, want := range tt.want {
					d, ok := s.Next()
					require.True(t, ok)
					assert.Equal(t, want, d, "Schedule.Next %d", i+1)
					d, ok = r.Delay(i + 1)
					require.True(t, ok)
					assert.Equal(t, want, d, "Delay(%d)", i+1)
				}
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

// TestDelayFarRetries checks Delay for retry numbers far beyond any
// MaxRetries, where it must not replay every earlier delay, against the
// steady delay of each backoff.
func TestDelayFarRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  retry.Config
		u    float64
		want time.Duration
	}{
		{"exponential, no jitter", retry.Config{Jitter: retry.JitterNone}, 0, 10 * time.Second},
		{"exponential, full jitter", retry.Config{}, 0.5, 5 * time.Second},
		{"exponential, equal jitter", retry.Config{Jitter: retry.JitterEqual, MaxDelay: time.Minute}, 0.5, 45 * time.Second},
		{"exponential, decorrelated", retry.Config{Jitter: retry.JitterDecorrelated}, 0.5, 10 * time.Second},
		{"exponential, proportional", retry.Config{Jitter: retry.JitterProportional}, 0, 5 * time.Second},
		{"constant, full jitter", retry.Config{Multiplier: 1, InitialDelay: time.Second}, 0.25, 250 * time.Millisecond},
		// An InitialDelay above MaxDelay panics at New since issue 12
		// (TestInvalidConfigPanics); the steady delay at the cap:
		{"initial at the cap", retry.Config{Jitter: retry.JitterNone, InitialDelay: 10 * time.Second}, 0, 10 * time.Second},
		{"growth stuck by rounding", retry.Config{Jitter: retry.JitterNone, InitialDelay: 1, Multiplier: 1.1}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Rand = fixedRand(tt.u)
			r := retry.New(cfg)
			for _, n := range []int{100, 1 << 40, math.MaxInt} {
				d, ok := r.Delay(n)
				require.True(t, ok)
				assert.Equal(t, tt.want, d, "Delay(%d)", n)
			}
		})
	}
}

// TestDelayDecorrelatedReplays: with JitterDecorrelated on a constant base
// each delay depends on the one before, so Delay(n) replays the call; with
// a generator of constant draws that is a known sequence.
func TestDelayDecorrelatedReplays(t *testing.T) {
	t.Parallel()
	r := retry.New(retry.Config{
		Jitter: retry.JitterDecorrelated, Multiplier: 1, MaxDelay: time.Second, Rand: fixedRand(0.5),
	})
	// Halfway between 100 ms and three times the previous delay (100 ms
	// before the first), or MaxDelay once that is less.
	want := ms(200, 350, 550, 550, 550)
	for i, w := range want {
		d, ok := r.Delay(i + 1)
		require.True(t, ok)
		assert.Equal(t, w, d, "Delay(%d)", i+1)
	}
	d, ok := r.Delay(5000)
	require.True(t, ok)
	assert.Equal(t, 550*time.Millisecond, d)
}

func TestDelayBackoffStop(t *testing.T) {
	t.Parallel()
	made := 0
	r := retry.New(retry.Config{
		Jitter: retry.JitterNone,
		Backoff: func() backoff.BackOff {
			made++
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Second), 2)
		},
	})
	for _, tc := range []struct {
		n  int
		ok bool
	}{{1, true}, {2, true}, {3, false}, {100, false}} {
		d, ok := r.Delay(tc.n)
		assert.Equal(t, tc.ok, ok, "Delay(%d)", tc.n)
		if ok {
			assert.Equal(t, time.Second, d)
		} else {
			assert.Zero(t, d)
		}
	}
	assert.Equal(t, 4, made, "one backoff per Delay")

	s := r.Schedule()
	assert.Equal(t, 4, made, "the backoff is made by the first Next")
	for range 2 {
		d, ok := s.Next()
		require.True(t, ok)
		assert.Equal(t, time.Second, d)
	}
	_, ok := s.Next()
	assert.False(t, ok)
	assert.Equal(t, 5, made)
}

func TestDelayPanicsBelowOne(t *testing.T) {
	t.Parallel()
	r := retry.New(retry.Config{})
	for _, n := range []int{0, -1, math.MinInt} {
		assert.PanicsWithValue(t, fmt.Sprintf("retry: Delay(%d): retries are numbered from 1", n), func() { r.Delay(n) })
	}
}

// TestDelayConcurrent hammers Delay and Schedules of one Retry with a
// seeded generator (serialized by the Retry) from many goroutines.
func TestDelayConcurrent(t *testing.T) {
	t.Parallel()
	for _, j := range []retry.Jitter{retry.JitterFull, retry.JitterDecorrelated} {
		r := retry.New(retry.Config{Jitter: j, Rand: rand.New(rand.NewPCG(3, 4))})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				s := r.Schedule()
				for i := range 200 {
					n := 1 + (g+i)%12
					d, ok := r.Delay(n)
					assert.True(t, ok)
					assert.True(t, d >= 0 && d <= 10*time.Second, "Delay(%d) = %v", n, d)
					d, ok = s.Next()
					assert.True(t, ok)
					assert.True(t, d >= 0 && d <= 10*time.Second, "Next = %v", d)
				}
			})
		}
		wg.Wait()
	}
}

// TestDelayAllocatesNothing is not parallel on purpose (see
// TestSuccessPathAllocatesNothing).
func TestDelayAllocatesNothing(t *testing.T) {
	for name, cfg := range map[string]retry.Config{
		"default":      {},
		"decorrelated": {Jitter: retry.JitterDecorrelated},
		"seeded":       {Rand: rand.New(rand.NewPCG(1, 2))},
		"background":   retry.Background(),
	} {
		r := retry.New(cfg)
		allocs := testing.AllocsPerRun(100, func() { _, _ = r.Delay(7) })
		assert.Zero(t, allocs, "Delay, "+name)
		allocs = testing.AllocsPerRun(100, func() {
			s := r.Schedule()
			for range 5 {
				_, _ = s.Next()
			}
		})
		assert.Zero(t, allocs, "Schedule, "+name)
	}
}

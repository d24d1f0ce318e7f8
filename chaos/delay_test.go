package chaos_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience/chaos"
)

func draws(d chaos.Delay, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d()
	}
	return out
}

func TestDelays(t *testing.T) {
	t.Parallel()
	const n = 20000
	tests := []struct {
		name     string
		make     func(seed uint64) chaos.Delay
		lo, hi   time.Duration // every draw within [lo, hi]
		mean     time.Duration
		meanTol  time.Duration
		constant bool
	}{
		{"fixed", func(uint64) chaos.Delay { return chaos.Fixed(250 * time.Millisecond) },
			250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond, 0, true},
		{"fixed zero", func(uint64) chaos.Delay { return chaos.Fixed(0) }, 0, 0, 0, 0, true},
		{"uniform", func(s uint64) chaos.Delay { return chaos.Uniform(100*time.Millisecond, 300*time.Millisecond, s) },
			100 * time.Millisecond, 300*time.Millisecond - 1, 200 * time.Millisecond, 5 * time.Millisecond, false},
		{"exponential", func(s uint64) chaos.Delay { return chaos.Exponential(50*time.Millisecond, 0, s) },
			0, time.Second, 50 * time.Millisecond, 3 * time.Millisecond, false},
		{"exponential capped", func(s uint64) chaos.Delay { return chaos.Exponential(time.Second, 100*time.Millisecond, s) },
			0, 100 * time.Millisecond, 95 * time.Millisecond, 5 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := draws(tt.make(1), n)
			assert.Equal(t, a, draws(tt.make(1), n), "same seed, same delays")
			if !tt.constant {
				assert.NotEqual(t, a, draws(tt.make(2), n), "another seed, other delays")
			}
			var sum time.Duration
			for _, d := range a {
				assert.GreaterOrEqual(t, d, tt.lo)
				assert.LessOrEqual(t, d, tt.hi)
				sum += d
			}
			assert.InDelta(t, float64(tt.mean), float64(sum/n), float64(tt.meanTol))
		})
	}
}

package hedge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sketch's estimate of a quantile is the upper bound of the bucket the
// quantile falls in: never below the exact quantile of the recorded
// latencies, at most 1/32 (3.125 %) above it, and clamped to [lo, hi].
// Checked on a table of distributions and quantiles.
func TestSketchAccuracy(t *testing.T) {
	t.Parallel()
	const n = 100_000
	d := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	dists := []struct {
		name string
		draw func(r *rand.Rand) time.Duration
	}{
		{"constant 10ms", func(*rand.Rand) time.Duration { return 10 * time.Millisecond }},
		{"uniform 1-100ms", func(r *rand.Rand) time.Duration { return d(1 + 99*r.Float64()) }},
		{"exponential, mean 20ms", func(r *rand.Rand) time.Duration { return d(20 * r.ExpFloat64()) }},
		{"lognormal, median 10ms", func(r *rand.Rand) time.Duration { return d(10 * math.Exp(r.NormFloat64())) }},
		{"bimodal 95% 10ms, 5% 1s", func(r *rand.Rand) time.Duration {
			if r.Float64() < 0.05 {
				return time.Second
			}
			return d(10 + r.Float64())
		}},
		{"pareto, alpha 1.5, from 2ms", func(r *rand.Rand) time.Duration { return d(2 / math.Pow(1-r.Float64(), 1/1.5)) }},
		{"microseconds", func(r *rand.Rand) time.Duration { return time.Duration(50_000 + r.IntN(200_000)) }},
	}
	ranges := []struct {
		name   string
		lo, hi time.Duration
	}{
		{"defaults", DefaultMinDelay, DefaultMaxDelay},
		{"wide", time.Microsecond, time.Hour},
	}
	for _, dist := range dists {
		for _, rg := range ranges {
			t.Run(dist.name+"/"+rg.name, func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(1, 2))
				samples := make([]time.Duration, n)
				for i := range samples {
					samples[i] = dist.draw(r)
				}
				sorted := slices.Clone(samples)
				slices.Sort(sorted)
				s := newSketch(0.5, rg.lo, rg.hi, time.Hour)
				for _, v := range samples {
					s.record(v, s.origin)
				}
				for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
					s.q = q
					s.refresh()
					exact := sorted[int(math.Ceil(q*n))-1]
					want := min(max(exact, rg.lo), rg.hi)
					got := s.estimate()
					assert.GreaterOrEqual(t, got, want, "q %v: never below the quantile (clamped)", q)
					assert.LessOrEqual(t, float64(got), float64(want)*(1+1.0/subCount)+1, "q %v: at most 1/32 above", q)
				}
			})
		}
	}
}

// The sketch's memory is fixed when it is made: recording any number of
// latencies grows nothing (and allocates nothing: see alloc_test.go). With the default range it
// holds 2 windows of 354 buckets (5.5 KiB).
func TestSketchBounded(t *testing.T) {
	t.Parallel()
	s := newSketch(0.95, DefaultMinDelay, DefaultMaxDelay, time.Minute)
	buckets := len(s.wins[0].counts)
	assert.Equal(t, 354, buckets)
	assert.Equal(t, 5664, 2*8*buckets, "bytes of counters")
	r := rand.New(rand.NewPCG(3, 4))
	now := s.origin
	const n = 300_000
	for i := range n {
		now = now.Add(time.Microsecond) // 0.3 s in all: no rotation
		s.record(time.Duration(r.Int64N(int64(10*time.Second))), now)
		if i == 0 {
			require.True(t, s.ready.Load() || s.seen.Load() < minSamples)
		}
	}
	assert.Equal(t, buckets, len(s.wins[0].counts))
	assert.Equal(t, buckets, len(s.wins[1].counts))
	assert.EqualValues(t, n, s.wins[0].total.Load()+s.wins[1].total.Load())
	// Wide ranges stay bounded too: 1 µs to 1 h is 33 powers of two.
	assert.Equal(t, 2+33*subCount, len(newSketch(0.5, time.Microsecond, time.Hour, time.Minute).wins[0].counts))
}

// Every latency lands in a bucket whose bounds hold it: the bucket's upper
// bound is above it and at most 1/32 of it above (for latencies inside the
// range), and buckets are ordered.
func TestSketchBuckets(t *testing.T) {
	t.Parallel()
	s := newSketch(0.95, time.Microsecond, time.Hour, time.Minute)
	r := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		v := int64(math.Exp(r.Float64() * math.Log(float64(2*time.Hour))))
		i := s.index(v)
		up := s.upper(i)
		switch {
		case v < s.lo:
			assert.Equal(t, 0, i)
		case v >= s.hi:
			assert.Equal(t, len(s.wins[0].counts)-1, i)
		default:
			require.Greater(t, up, v, "latency %d in bucket %d", v, i)
			require.LessOrEqual(t, float64(up), float64(v)*(1+1.0/subCount)+1, "latency %d in bucket %d", v, i)
			if i > 1 {
				require.LessOrEqual(t, s.upper(i-1), v, "bucket %d starts after %d", i, v)
			}
		}
	}
}

// The estimate follows change: it uses the current and the previous
// window, so a shift of latency shows within one window and the old
// latency is gone after two; after a silence of two windows the sketch
// starts afresh (the initial delay until MinSamples).
func TestSketchWindows(t *testing.T) {
	t.Parallel()
	const w = time.Minute
	s := newSketch(0.5, DefaultMinDelay, DefaultMaxDelay, w)
	// feed records n latencies of d spread over [from, to) since origin.
	feed := func(d time.Duration, n int, from, to time.Duration) {
		for i := range n {
			s.record(d, s.origin.Add(from+time.Duration(i)*(to-from)/time.Duration(n)))
		}
		s.refresh()
	}
	near := func(want time.Duration) {
		t.Helper()
		got := s.estimate()
		assert.GreaterOrEqual(t, got, want)
		assert.LessOrEqual(t, float64(got), float64(want)*(1+1.0/subCount))
	}
	held := func() uint64 { return s.wins[0].total.Load() + s.wins[1].total.Load() }
	ms := time.Millisecond

	assert.Equal(t, DefaultMaxDelay, s.estimate(), "the initial delay")
	feed(10*ms, minSamples-1, 0, time.Second)
	assert.Equal(t, DefaultMaxDelay, s.estimate(), "still the initial delay before MinSamples")
	feed(10*ms, 1000, time.Second, w)
	near(10 * ms)
	feed(100*ms, 3000, w, 2*w) // the next window: 3000 slow, 1019 fast
	near(100 * ms)
	assert.EqualValues(t, 4019, held())
	feed(20*ms, 500, 2*w, 2*w+w/2) // the window after: the 10 ms are gone
	assert.EqualValues(t, 3500, held())
	assert.Zero(t, s.wins[0].counts[s.index(int64(10*ms))].Load()+s.wins[1].counts[s.index(int64(10*ms))].Load())
	feed(20*ms, 4000, 2*w+w/2, 3*w)
	near(20 * ms)
	feed(30*ms, 1, 10*w, 10*w) // after a silence
	assert.EqualValues(t, 1, held(), "both windows cleared")
	assert.Equal(t, DefaultMaxDelay, s.estimate())
}

package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

func classifyIgnored(err error) breaker.Outcome {
	if errors.Is(err, errIgnored) {
		return breaker.Ignore
	}
	return breaker.DefaultClassify(err)
}

// TestTripRules drives every trip rule through a script of calls and
// checks the state after each step, then the way back through half-open.
//
// Script letters: s success, f failure, i ignored, S slow success and F
// slow failure (2 s each); waits without a call: w 5 s, x 6 s, W 11 s.
// The states string has one letter per step: c closed, o open.
func TestTripRules(t *testing.T) {
	t.Parallel()
	window := 10 * time.Second
	cases := []struct {
		name   string
		cfg    breaker.Config
		script string
		states string
	}{
		{"consecutive default", breaker.Config{}, "ffffsfffff", "ccccccccco"},
		{"consecutive ignores do not break a run", breaker.Config{ConsecutiveFailures: 3}, "ffiif", "cccco"},
		{"consecutive success breaks a run", breaker.Config{ConsecutiveFailures: 2}, "fsfsff", "ccccco"},
		{"count reaches MinCalls on a success", breaker.Config{WindowCalls: 4, MinCalls: 4}, "fsfs", "ccco"},
		{"count below rate", breaker.Config{WindowCalls: 4, MinCalls: 2}, "ssssfsf", "cccccco"},
		{"count old failures slide out", breaker.Config{WindowCalls: 4, FailureRate: 1}, "fffsffff", "ccccccco"},
		{"count ignored calls do not count", breaker.Config{WindowCalls: 4, FailureRate: 1}, "ffiiiff", "cccccco"},
		{"count with consecutive", breaker.Config{WindowCalls: 100, ConsecutiveFailures: 3}, "ssfff", "cccco"},
		{"time buckets expire", breaker.Config{WindowDuration: window, MinCalls: 4}, "ffWssff", "cccccco"},
		{"time rate rises as successes leave", breaker.Config{WindowDuration: window, MinCalls: 2}, "ssswffxs", "ccccccco"},
		{"time MinCalls", breaker.Config{WindowDuration: window, MinCalls: 3}, "ffs", "cco"},
		{"slow count window", breaker.Config{WindowCalls: 4, SlowCall: time.Second, SlowCallRate: 0.5, FailureRate: 1}, "SSss", "ccco"},
		{"slow failures count as slow", breaker.Config{WindowCalls: 4, SlowCall: time.Second, SlowCallRate: 0.5, FailureRate: 1, MinCalls: 4}, "sFsF", "ccco"},
		{"slow time window", breaker.Config{WindowDuration: window, SlowCall: time.Second, SlowCallRate: 0.75, MinCalls: 2}, "sSSS", "ccco"},
		{"slow rate defaults to all calls", breaker.Config{WindowDuration: window, SlowCall: time.Second, MinCalls: 2}, "sSSSWSS", "cccccco"},
		{"slow below threshold", breaker.Config{WindowDuration: window, SlowCall: 3 * time.Second, MinCalls: 2}, "SSSS", "cccc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tc.cfg.OpenDuration = 30 * time.Second
				tc.cfg.Classify = classifyIgnored
				b := breaker.New(tc.cfg)
				states := tc.states
				require.Len(t, states, len(tc.script))
				for i, step := range tc.script {
					var err error
					switch step {
					case 's':
						err = call(b, ok)
					case 'f':
						err = call(b, fail)
					case 'i':
						err = call(b, func(context.Context) error { return errIgnored })
					case 'S':
						err = call(b, sleepy(2*time.Second, nil))
					case 'F':
						err = call(b, sleepy(2*time.Second, errBoom))
					case 'w':
						time.Sleep(5 * time.Second)
					case 'x':
						time.Sleep(6 * time.Second)
					case 'W':
						time.Sleep(11 * time.Second)
					}
					require.NotErrorIs(t, err, breaker.ErrOpen, "step %d", i)
					want := breaker.Closed
					if states[i] == 'o' {
						want = breaker.Open
					}
					require.Equal(t, want, b.State(), "after step %d (%c)", i, step)
				}
				if b.State() != breaker.Open {
					return
				}
				// Open: fail fast without calling op.
				called := false
				err := call(b, func(context.Context) error { called = true; return nil })
				requireOpen(t, err, breaker.Open, 30*time.Second)
				require.False(t, called)
				// After the open duration a failed probe opens it again.
				time.Sleep(30 * time.Second)
				require.ErrorIs(t, call(b, fail), errBoom)
				require.Equal(t, breaker.Open, b.State())
				// A successful probe closes it, with an empty window.
				time.Sleep(30 * time.Second)
				require.NoError(t, call(b, ok))
				require.Equal(t, breaker.Closed, b.State())
				m := b.Metrics()
				assert.Zero(t, m.ConsecutiveFailures)
				assert.LessOrEqual(t, m.WindowCalls, 0)
			})
		})
	}
}

func TestConfigPanics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  breaker.Config
	}{
		{"negative consecutive", breaker.Config{ConsecutiveFailures: -1}},
		{"negative window", breaker.Config{WindowCalls: -1}},
		{"negative open", breaker.Config{OpenDuration: -time.Second}},
		{"both windows", breaker.Config{WindowCalls: 10, WindowDuration: time.Second}},
		{"window too large", breaker.Config{WindowCalls: breaker.MaxWindowCalls + 1}},
		{"too many buckets", breaker.Config{WindowDuration: time.Hour, Buckets: breaker.MaxBuckets + 1}},
		{"buckets shorter than 1ns", breaker.Config{WindowDuration: 5, Buckets: 10}},
		{"buckets without window", breaker.Config{Buckets: 5}},
		{"rate without window", breaker.Config{FailureRate: 0.5}},
		{"MinCalls without window", breaker.Config{MinCalls: 5}},
		{"rate above 1", breaker.Config{WindowCalls: 10, FailureRate: 1.5}},
		{"negative rate", breaker.Config{WindowCalls: 10, FailureRate: -0.1}},
		{"slow rate without SlowCall", breaker.Config{WindowCalls: 10, SlowCallRate: 0.5}},
		{"max open below open", breaker.Config{OpenDuration: time.Minute, MaxOpenDuration: time.Second}},
		{"multiplier without max", breaker.Config{OpenMultiplier: 2}},
		{"multiplier below 1", breaker.Config{MaxOpenDuration: time.Hour, OpenMultiplier: 0.5}},
		{"jitter 1", breaker.Config{OpenJitter: 1}},
		{"negative probes", breaker.Config{MaxProbes: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				require.NotNil(t, r, "New did not panic")
				require.True(t, strings.HasPrefix(fmt.Sprint(r), "breaker: "), "message %q", r)
			}()
			breaker.New(tc.cfg)
		})
	}
}

func TestDefaultClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want breaker.Outcome
	}{
		{nil, breaker.Success},
		{errBoom, breaker.Failure},
		{context.Canceled, breaker.Ignore},
		{fmt.Errorf("wrapped: %w", context.Canceled), breaker.Ignore},
		{context.DeadlineExceeded, breaker.Failure},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, breaker.DefaultClassify(tc.err), "%v", tc.err)
	}
	assert.Equal(t, "success", breaker.Success.String())
	assert.Equal(t, "ignore", breaker.Ignore.String())
	assert.Equal(t, "Outcome(9)", breaker.Outcome(9).String())
}

// A call whose caller gave up says nothing about the dependency.
func TestCancelledCallerIgnored(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{ConsecutiveFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Do(ctx, func(context.Context) error { return errBoom })
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, breaker.Closed, b.State())
	m := b.Metrics()
	assert.Equal(t, uint64(1), m.Ignored)
	assert.Zero(t, m.Calls)
	// The caller's deadline is the caller's impatience: ignored too.
	dctx, dcancel := context.WithTimeout(context.Background(), -time.Second)
	defer dcancel()
	_ = b.Do(dctx, func(ctx context.Context) error { return ctx.Err() })
	require.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(2), b.Metrics().Ignored)
	// A deadline of the dependency's own, with the caller still waiting,
	// is a failure.
	_ = call(b, func(context.Context) error { return context.DeadlineExceeded })
	require.Equal(t, breaker.Open, b.State())
}

func TestCustomClassify(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 1,
		Classify: func(err error) breaker.Outcome {
			switch {
			case errors.Is(err, errIgnored):
				return breaker.Ignore
			case err == nil || errors.Is(err, errBoom):
				return breaker.Success // errBoom is a business error here
			}
			return breaker.Outcome(42) // unknown: a failure
		},
	})
	require.ErrorIs(t, call(b, fail), errBoom)
	require.Error(t, call(b, func(context.Context) error { return errIgnored }))
	require.Equal(t, breaker.Closed, b.State())
	_ = call(b, func(context.Context) error { return errors.New("other") })
	require.Equal(t, breaker.Open, b.State())
	m := b.Metrics()
	assert.Equal(t, uint64(2), m.Calls)
	assert.Equal(t, uint64(1), m.Failures)
	assert.Equal(t, uint64(1), m.Ignored)
}

func TestOpenError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: 10 * time.Second})
		_ = call(b, fail)
		time.Sleep(4 * time.Second)
		err := call(b, ok)
		requireOpen(t, err, breaker.Open, 6*time.Second)
		var hs interface{ HTTPStatus() int }
		require.ErrorAs(t, err, &hs)
		assert.Equal(t, 503, hs.HTTPStatus())
		assert.Equal(t, "breaker: open (next probe in 6s)", err.Error())
		m := b.Metrics()
		assert.Equal(t, uint64(1), m.Rejections)
		assert.Equal(t, 6*time.Second, m.NextProbe)

		time.Sleep(2 * time.Second)
		assert.Equal(t, "breaker: open (next probe in 4s)", err.Error(), "the wait as of now")
		time.Sleep(4 * time.Second)
		assert.Equal(t, "breaker: open", err.Error(), "its open period is over")

		b.ForceOpen()
		assert.Equal(t, "breaker: open (forced)", call(b, ok).Error())

		var zero breaker.OpenError
		assert.Equal(t, breaker.Open, zero.State(), "the zero value is an open rejection")
		assert.Zero(t, zero.RetryAfter())
		assert.Equal(t, "breaker: open", zero.Error())
		assert.ErrorIs(t, &zero, breaker.ErrOpen)
	})
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for st, want := range map[breaker.State]string{
		breaker.Closed: "closed", breaker.Open: "open", breaker.HalfOpen: "half-open",
		breaker.ForcedOpen: "forced-open", breaker.Disabled: "disabled", breaker.State(7): "State(7)",
	} {
		assert.Equal(t, want, st.String())
	}
}

func TestProbeLimits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second, MaxProbes: 2, SuccessThreshold: 3})
		_ = call(b, fail)
		time.Sleep(time.Second)

		release := make(chan struct{})
		var inFlight atomic.Int32
		blocked := func(context.Context) error {
			inFlight.Add(1)
			<-release
			return nil
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- call(b, blocked) }()
		}
		synctest.Wait()
		require.Equal(t, int32(2), inFlight.Load())
		require.Equal(t, breaker.HalfOpen, b.State())
		// Both slots are taken: a third call is rejected.
		requireOpen(t, call(b, ok), breaker.HalfOpen, 0)
		close(release)
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		// Two successes of three: still half-open.
		require.Equal(t, breaker.HalfOpen, b.State())
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.Closed, b.State())
	})
}

func TestHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second, SuccessThreshold: 2})
		_ = call(b, fail)
		time.Sleep(time.Second)
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.HalfOpen, b.State())
		require.ErrorIs(t, call(b, fail), errBoom)
		require.Equal(t, breaker.Open, b.State())
		requireOpen(t, call(b, ok), breaker.Open, time.Second)
	})
}

// An ignored probe frees its slot, so the breaker cannot latch half-open.
func TestIgnoredProbeFreesSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second, Classify: classifyIgnored})
		_ = call(b, fail)
		time.Sleep(time.Second)
		for range 3 {
			require.ErrorIs(t, call(b, func(context.Context) error { return errIgnored }), errIgnored)
			require.Equal(t, breaker.HalfOpen, b.State())
		}
		// The caller cancelling a probe frees its slot too.
		ctx, cancel := context.WithCancel(context.Background())
		require.ErrorIs(t, b.Do(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() }), context.Canceled)
		require.Equal(t, breaker.HalfOpen, b.State())
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.Closed, b.State())
		assert.Equal(t, uint64(4), b.Metrics().Ignored)
	})
}

func TestSlowProbeFailsWithSlowRule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{WindowCalls: 2, SlowCall: time.Second, OpenDuration: time.Minute})
		_ = call(b, sleepy(2*time.Second, nil))
		_ = call(b, sleepy(2*time.Second, nil))
		require.Equal(t, breaker.Open, b.State())
		time.Sleep(time.Minute)
		require.NoError(t, call(b, sleepy(2*time.Second, nil)))
		require.Equal(t, breaker.Open, b.State(), "a slow probe re-opens")
		time.Sleep(time.Minute)
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.Closed, b.State())
		m := b.Metrics()
		assert.Equal(t, uint64(3), m.SlowCalls)
		assert.Equal(t, uint64(4), m.Calls)
	})
}

func TestOpenDurationGrowth(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			MaxOpenDuration:     5 * time.Second,
		})
		_ = call(b, fail)
		for _, want := range []time.Duration{1, 2, 4, 5, 5} {
			requireOpen(t, call(b, ok), breaker.Open, want*time.Second)
			time.Sleep(want * time.Second)
			_ = call(b, fail) // the probe fails
		}
		time.Sleep(5 * time.Second)
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.Closed, b.State())
		// Closing forgets the growth.
		_ = call(b, fail)
		requireOpen(t, call(b, ok), breaker.Open, time.Second)
	})
}

func TestOpenDurationMultiplierAndJitter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        10 * time.Second,
			MaxOpenDuration:     time.Hour,
			OpenMultiplier:      3,
			OpenJitter:          0.5,
		})
		_ = call(b, fail)
		base := 10 * time.Second
		for range 4 {
			var oe *breaker.OpenError
			require.ErrorAs(t, call(b, ok), &oe)
			wait := oe.RetryAfter()
			require.GreaterOrEqual(t, wait, base/2)
			require.LessOrEqual(t, wait, base)
			time.Sleep(wait)
			_ = call(b, fail)
			base *= 3
		}
	})
}

func TestManualControl(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		b := breaker.New(breaker.Config{ConsecutiveFailures: 2, OnStateChange: rec.hook})

		b.ForceOpen()
		require.Equal(t, breaker.ForcedOpen, b.State())
		time.Sleep(time.Hour) // forced open does not expire
		requireOpen(t, call(b, ok), breaker.ForcedOpen, 0)

		b.Disable()
		require.Equal(t, breaker.Disabled, b.State())
		for range 10 {
			require.ErrorIs(t, call(b, fail), errBoom)
		}
		require.Equal(t, breaker.Disabled, b.State(), "disabled never opens")
		m := b.Metrics()
		assert.Equal(t, uint64(10), m.Failures, "disabled still measures")
		assert.Equal(t, 10, m.ConsecutiveFailures)

		b.Reset()
		require.Equal(t, breaker.Closed, b.State())
		assert.Zero(t, b.Metrics().ConsecutiveFailures)
		_ = call(b, fail)
		require.Equal(t, breaker.Closed, b.State())
		_ = call(b, fail)
		require.Equal(t, breaker.Open, b.State())
		b.Reset()
		require.Equal(t, breaker.Closed, b.State())
		b.Reset() // no change, no event
		assert.Equal(t, [][2]breaker.State{
			{breaker.Closed, breaker.ForcedOpen},
			{breaker.ForcedOpen, breaker.Disabled},
			{breaker.Disabled, breaker.Closed},
			{breaker.Closed, breaker.Open},
			{breaker.Open, breaker.Closed},
		}, rec.drain())
	})
}

// Reset while a probe is in flight: the probe's outcome no longer counts.
func TestResetDuringProbe(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second})
		_ = call(b, fail)
		time.Sleep(time.Second)
		release := make(chan struct{})
		done := make(chan error)
		go func() { done <- call(b, func(context.Context) error { <-release; return errBoom }) }()
		synctest.Wait()
		require.Equal(t, breaker.HalfOpen, b.State())
		b.Reset()
		close(release)
		require.ErrorIs(t, <-done, errBoom)
		require.Equal(t, breaker.Closed, b.State())
	})
}

func TestOnStateChangeOrderAndTransitions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second, OnStateChange: rec.hook})
		_ = call(b, fail)
		time.Sleep(time.Second)
		_ = call(b, fail)
		time.Sleep(time.Second)
		_ = call(b, ok)
		assert.Equal(t, [][2]breaker.State{
			{breaker.Closed, breaker.Open},
			{breaker.Open, breaker.HalfOpen},
			{breaker.HalfOpen, breaker.Open},
			{breaker.Open, breaker.HalfOpen},
			{breaker.HalfOpen, breaker.Closed},
		}, rec.drain())
	})
}

// A callback that calls back into the breaker, even to change its state,
// must not deadlock, and sees every change in order.
func TestOnStateChangeReentrant(t *testing.T) {
	t.Parallel()
	var b *breaker.Breaker
	var seen [][2]breaker.State
	b = breaker.New(breaker.Config{
		ConsecutiveFailures: 1,
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			seen = append(seen, [2]breaker.State{from, to})
			_ = b.State()
			_ = b.Metrics()
			if to == breaker.Open {
				b.Reset() // queued, delivered after this call returns
				_ = call(b, ok)
			}
		},
	})
	_ = call(b, fail)
	require.Equal(t, breaker.Closed, b.State())
	require.Equal(t, [][2]breaker.State{
		{breaker.Closed, breaker.Open},
		{breaker.Open, breaker.Closed},
	}, seen)
}

// A panicking callback does not wedge later deliveries.
func TestOnStateChangePanics(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 1,
		OnStateChange: func(_ context.Context, from, to breaker.State) {
			if calls.Add(1) == 1 {
				panic("hook")
			}
		},
	})
	require.PanicsWithValue(t, "hook", func() { _ = call(b, fail) })
	b.Reset()
	require.Equal(t, int32(2), calls.Load())
}

// The resilience.Policy contract.
func TestPolicyContract(t *testing.T) {
	t.Parallel()
	modes := map[string]breaker.Config{
		"consecutive": {ConsecutiveFailures: 1},
		"count":       {WindowCalls: 1, MinCalls: 1},
		"time":        {WindowDuration: time.Minute, MinCalls: 1},
		"slow":        {WindowCalls: 1, MinCalls: 1, SlowCall: time.Hour},
	}
	for name, cfg := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				cfg.OpenDuration = time.Second
				b := breaker.New(cfg)
				type key struct{}
				ctx := context.WithValue(context.Background(), key{}, "v")
				// op gets the caller's context, runs once, and Do waits for it.
				n := 0
				err := b.Do(ctx, func(c context.Context) error {
					n++
					require.Equal(t, "v", c.Value(key{}))
					time.Sleep(time.Second)
					return nil
				})
				require.NoError(t, err)
				require.Equal(t, 1, n)
				// A panic counts as a failure and propagates.
				require.PanicsWithValue(t, "bang", func() {
					_ = b.Do(ctx, func(context.Context) error { panic("bang") })
				})
				require.Equal(t, breaker.Open, b.State())
				require.Equal(t, uint64(1), b.Metrics().Failures)
				// A panicking probe releases its slot and re-opens.
				time.Sleep(time.Second)
				require.Panics(t, func() {
					_ = b.Do(ctx, func(context.Context) error { panic("bang") })
				})
				require.Equal(t, breaker.Open, b.State())
				time.Sleep(time.Second)
				require.NoError(t, b.Do(ctx, ok))
				require.Equal(t, breaker.Closed, b.State())
				// A cancelled caller context does not make Do wait.
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				require.ErrorIs(t, b.Do(cctx, func(c context.Context) error { return c.Err() }), context.Canceled)
			})
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{WindowCalls: 10, MinCalls: 10, SlowCall: time.Second, Classify: classifyIgnored})
		for range 6 {
			_ = call(b, ok)
		}
		_ = call(b, fail)
		_ = call(b, sleepy(2*time.Second, nil))
		_ = call(b, func(context.Context) error { return errIgnored })
		m := b.Metrics()
		assert.Equal(t, breaker.Closed, m.State)
		assert.Equal(t, uint64(8), m.Calls)
		assert.Equal(t, uint64(1), m.Failures)
		assert.Equal(t, uint64(1), m.SlowCalls)
		assert.Equal(t, uint64(1), m.Ignored)
		assert.Equal(t, 8, m.WindowCalls)
		assert.InDelta(t, 1.0/8, m.FailureRate, 1e-9)
		assert.InDelta(t, 1.0/8, m.SlowCallRate, 1e-9)
		assert.Zero(t, m.NextProbe)

		tw := breaker.New(breaker.Config{WindowDuration: 10 * time.Second})
		for range 4 {
			_ = call(tw, ok)
		}
		_ = call(tw, fail)
		m = tw.Metrics()
		assert.Equal(t, uint64(5), m.Calls)
		assert.Equal(t, 5, m.WindowCalls)
		assert.InDelta(t, 0.2, m.FailureRate, 1e-9)
		time.Sleep(11 * time.Second)
		m = tw.Metrics()
		assert.Equal(t, uint64(5), m.Calls, "cumulative")
		assert.Zero(t, m.WindowCalls, "expired")
	})
}

// Successes in a time window count in the bucket of their time although
// they do not read the clock: the window's timer keeps up, stops when
// calls stop, and the next call catches up.
func TestTimeWindowBuckets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{WindowDuration: 10 * time.Second, MinCalls: 1})
		calls := func(n int) {
			for range n {
				require.NoError(t, call(b, ok))
			}
		}
		calls(5) // bucket 0
		time.Sleep(5 * time.Second)
		calls(3) // bucket 5
		time.Sleep(4500 * time.Millisecond)
		calls(2) // bucket 9
		require.Equal(t, 10, b.Metrics().WindowCalls)
		time.Sleep(time.Second) // t = 10.5 s: bucket 0 left
		require.Equal(t, 5, b.Metrics().WindowCalls)

		time.Sleep(time.Minute) // idle: the timer stops
		require.Zero(t, b.Metrics().WindowCalls)
		calls(4)
		time.Sleep(3 * time.Second)
		calls(1)
		require.Equal(t, 5, b.Metrics().WindowCalls)
		time.Sleep(7500 * time.Millisecond)
		require.Equal(t, 1, b.Metrics().WindowCalls, "the first four left with their bucket")

		// A failure judged against the right window: 1 of 2.
		require.ErrorIs(t, call(b, fail), errBoom)
		m := b.Metrics()
		require.Equal(t, 2, m.WindowCalls)
		require.Equal(t, breaker.Open, m.State, "50% trips")
		require.Equal(t, uint64(16), m.Calls)
	})
}

// OnStateChange gets the context of the call that made the change, so that
// a log line can carry its trace; manual changes get context.Background().
func TestOnStateChangeGetsCallersContext(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	type change struct {
		val      any
		key      string
		from, to breaker.State
	}
	var own, grouped []change
	g := breaker.NewGroup(breaker.GroupConfig{
		Config: breaker.Config{ConsecutiveFailures: 1, OnStateChange: func(ctx context.Context, from, to breaker.State) {
			own = append(own, change{ctx.Value(ctxKey{}), "", from, to})
		}},
		OnStateChange: func(ctx context.Context, key string, from, to breaker.State) {
			grouped = append(grouped, change{ctx.Value(ctxKey{}), key, from, to})
		},
	})
	ctx := resilience.WithKey(context.WithValue(t.Context(), ctxKey{}, "trace-1"), "db")
	err := g.Do(ctx, func(context.Context) error { return errors.New("boom") })
	require.Error(t, err)
	g.Get("db").Reset()
	assert.Equal(t, []change{{"trace-1", "", breaker.Closed, breaker.Open}, {nil, "", breaker.Open, breaker.Closed}}, own)
	assert.Equal(t, []change{{"trace-1", "db", breaker.Closed, breaker.Open}, {nil, "db", breaker.Open, breaker.Closed}}, grouped)
}

func TestName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", breaker.New(breaker.Config{}).Name())
	assert.Equal(t, "db", breaker.New(breaker.Config{Name: "db"}).Name())
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{Name: "hosts"}})
	assert.Equal(t, "hosts", g.Name())
	assert.Equal(t, "hosts", g.Get("a").Name(), "a key's breaker carries the group's name")
	g = breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{Name: "hosts"}, ConfigFor: func(key string) (breaker.Config, bool) {
		if key == "own" {
			return breaker.Config{Name: "special"}, true
		}
		return breaker.Config{}, true
	}})
	assert.Equal(t, "special", g.Get("own").Name())
	assert.Equal(t, "hosts", g.Get("other").Name())
}

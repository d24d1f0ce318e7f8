package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/retry"
)

func TestSucceedsAfterFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var attempts []int
		r := retry.New(retry.Config{OnRetry: func(_ context.Context, a int, err error, _ time.Duration) {
			assert.ErrorIs(t, err, errTransient)
			attempts = append(attempts, a)
		}})
		op, calls := failing(3, errTransient)
		require.NoError(t, r.Do(t.Context(), op))
		assert.EqualValues(t, 4, calls.Load())
		assert.Equal(t, []int{1, 2, 3}, attempts)
	})
}

func TestExhausted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{})
		inner := &resilience.StatusError{Code: 503}
		op, calls := failing(100, fmt.Errorf("call: %w", inner))
		err := r.Do(t.Context(), op)
		assert.EqualValues(t, 4, calls.Load(), "1 + default MaxRetries")

		require.ErrorIs(t, err, retry.ErrExhausted)
		var ex *retry.ExhaustedError
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, 4, ex.Attempts)
		assert.Equal(t, retry.ReasonMaxRetries, ex.Reason)
		var se *resilience.StatusError
		require.ErrorAs(t, err, &se, "unwraps to the last error")
		assert.Same(t, inner, se)
		assert.Equal(t, "retry: exhausted after 4 attempts (max retries): call: resilience: HTTP 503 Service Unavailable", err.Error())
	})
}

func TestExhaustedErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *retry.ExhaustedError
		want string
	}{
		{&retry.ExhaustedError{Attempts: 1, Reason: retry.ReasonBudget, Err: errTransient},
			"retry: exhausted after 1 attempt (budget exhausted): transient"},
		{&retry.ExhaustedError{Attempts: 2, Reason: retry.ReasonDeadline},
			"retry: exhausted after 2 attempts (deadline)"},
		{&retry.ExhaustedError{Attempts: 3, Reason: retry.Reason(99), Err: errTransient},
			"retry: exhausted after 3 attempts (Reason(99)): transient"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
		assert.ErrorIs(t, tt.err, retry.ErrExhausted)
	}
	for r, want := range map[retry.Reason]string{
		retry.ReasonMaxRetries: "max retries", retry.ReasonBackoffStop: "backoff stopped",
		retry.ReasonDeadline: "deadline", retry.ReasonMaxElapsed: "max elapsed",
		retry.ReasonRetryAfter: "retry-after too long", retry.ReasonBudget: "budget exhausted",
		retry.ReasonRejected: "rejected locally",
	} {
		assert.Equal(t, want, r.String())
	}
	for j, want := range map[retry.Jitter]string{
		retry.JitterFull: "full", retry.JitterNone: "none", retry.JitterEqual: "equal",
		retry.JitterDecorrelated: "decorrelated", retry.JitterProportional: "proportional",
		retry.Jitter(42): "Jitter(42)",
	} {
		assert.Equal(t, want, j.String())
	}
}

// permErr is an error of its own that joins the Permanent protocol.
type permErr struct{ perm bool }

func (e permErr) Error() string   { return fmt.Sprintf("perm=%v", e.perm) }
func (e permErr) Permanent() bool { return e.perm }

// asErr answers errors.As for any target through an As method: only
// errors.As knows what it matches.
type asErr struct{ target error }

func (e asErr) Error() string { return "as" }
func (e asErr) As(target any) bool {
	if p, ok := target.(*interface{ Permanent() bool }); ok {
		if v, ok := e.target.(interface{ Permanent() bool }); ok {
			*p = v
			return true
		}
	}
	if p, ok := target.(*interface{ RetryAfter() time.Duration }); ok {
		if v, ok := e.target.(interface{ RetryAfter() time.Duration }); ok {
			*p = v
			return true
		}
	}
	return false
}

func TestNotRetried(t *testing.T) {
	t.Parallel()
	notFound := errors.New("not found")
	tests := []struct {
		name      string
		err       error
		retryable func(error) bool
		retried   bool
	}{
		{"resilience.Permanent", resilience.Permanent(errTransient), nil, false},
		{"wrapped resilience.Permanent", fmt.Errorf("op: %w", resilience.Permanent(errTransient)), nil, false},
		{"backoff.Permanent", backoff.Permanent(errTransient), nil, false},
		{"wrapped backoff.Permanent", fmt.Errorf("op: %w", backoff.Permanent(errTransient)), nil, false},
		{"joined permanent", errors.Join(errTransient, resilience.Permanent(notFound)), nil, false},
		{"own Permanent() true", permErr{true}, nil, false},
		{"own Permanent() false", permErr{false}, nil, true},
		{"first Permanent method decides", fmt.Errorf("%w", errors.Join(permErr{false}, permErr{true})), nil, true},
		{"As method says permanent", asErr{permErr{true}}, nil, false},
		{"As method says nothing", asErr{errTransient}, nil, true},
		{"As method that matches nothing, wrapped", fmt.Errorf("x: %w", asErr{errTransient}), nil, true},
		{"Retryable rejects", notFound, func(err error) bool { return !errors.Is(err, notFound) }, false},
		{"Retryable accepts", errTransient, func(err error) bool { return !errors.Is(err, notFound) }, true},
		{"permanent beats Retryable", resilience.Permanent(errTransient), func(error) bool { return true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				budget := retry.NewTokenBudget(10, 1)
				r := retry.New(retry.Config{MaxRetries: 2, Retryable: tt.retryable, Budget: budget})
				op, calls := failing(100, tt.err)
				err := r.Do(t.Context(), op)
				if tt.retried {
					assert.EqualValues(t, 3, calls.Load())
					assert.ErrorIs(t, err, retry.ErrExhausted)
					assert.InDelta(t, 7, budget.Tokens(), 1e-9, "each retryable failure takes a token")
					return
				}
				assert.EqualValues(t, 1, calls.Load())
				assert.Equal(t, tt.err, err, "the error comes back unchanged")
				assert.InDelta(t, 10, budget.Tokens(), 1e-9, "a failure not retried takes no token")
			})
		})
	}
}

func TestPanicPropagates(t *testing.T) {
	t.Parallel()
	for _, failuresFirst := range []int{0, 2} {
		t.Run(fmt.Sprintf("after %d failures", failuresFirst), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				budget := retry.NewTokenBudget(10, 1)
				r := retry.New(retry.Config{Budget: budget})
				calls := 0
				op := func(context.Context) error {
					calls++
					if calls > failuresFirst {
						panic("boom")
					}
					return errTransient
				}
				assert.PanicsWithValue(t, "boom", func() { _ = r.Do(t.Context(), op) })
				assert.Equal(t, failuresFirst+1, calls, "no retry after a panic")
				assert.InDelta(t, 10-float64(failuresFirst+1), budget.Tokens(), 1e-9, "the panic counts as a failure")

				// The Retry works as before.
				op2, calls2 := failing(1, errTransient)
				require.NoError(t, r.Do(t.Context(), op2))
				assert.EqualValues(t, 2, calls2.Load())
			})
		})
	}
}

func TestCancelDuringSleep(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{InitialDelay: 10 * time.Second, Jitter: retry.JitterNone})
		ctx, cancel := context.WithCancel(t.Context())
		op, calls := failing(100, errTransient)
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := r.Do(ctx, op)
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "returns as soon as ctx is cancelled")
		require.ErrorIs(t, err, context.Canceled)
		assert.EqualValues(t, 1, calls.Load())
	})
}

func TestCancelledContextNotRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := r.Do(ctx, func(ctx context.Context) error {
			calls++
			cancel()
			return fmt.Errorf("op: %w", ctx.Err())
		})
		assert.Equal(t, 1, calls)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, retry.ErrExhausted, "op's own error")
	})
}

func TestContextPassedThrough(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(t.Context(), key{}, "v")
		r := retry.New(retry.Config{})
		n := 0
		require.NoError(t, r.Do(ctx, func(got context.Context) error {
			assert.Equal(t, "v", got.Value(key{}))
			n++
			if n < 3 {
				return errTransient
			}
			return nil
		}))
	})
}

func TestDeadlineGiveUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		deadline   time.Duration // caller's, 0 for none
		maxElapsed time.Duration
		opTime     time.Duration
		wantCalls  int
		wantReason retry.Reason
		wantWait   time.Duration // how long Do took
	}{
		// Delays 100, 200, 400 ms: attempts at 0, 100, 300, 700 ms.
		{"deadline before the 3rd attempt", 250 * time.Millisecond, 0, 0, 2, retry.ReasonDeadline, 100 * time.Millisecond},
		{"deadline exactly at the 3rd attempt", 300 * time.Millisecond, 0, 0, 2, retry.ReasonDeadline, 100 * time.Millisecond},
		{"deadline just after the 3rd attempt", 301 * time.Millisecond, 0, 0, 3, retry.ReasonDeadline, 300 * time.Millisecond},
		{"deadline shorter than the first delay", 50 * time.Millisecond, 0, 0, 1, retry.ReasonDeadline, 0},
		{"max elapsed", 0, 250 * time.Millisecond, 0, 2, retry.ReasonMaxElapsed, 100 * time.Millisecond},
		{"max elapsed counts attempt time", 0, 500 * time.Millisecond, 100 * time.Millisecond, 2, retry.ReasonMaxElapsed, 300 * time.Millisecond},
		{"the earlier of the two", time.Second, 250 * time.Millisecond, 0, 2, retry.ReasonMaxElapsed, 100 * time.Millisecond},
		{"long enough for all", time.Second, time.Second, 0, 4, retry.ReasonMaxRetries, 700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := retry.New(retry.Config{Jitter: retry.JitterNone, MaxElapsed: tt.maxElapsed})
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				calls := 0
				start := time.Now()
				err := r.Do(ctx, func(context.Context) error {
					calls++
					time.Sleep(tt.opTime)
					return errTransient
				})
				var ex *retry.ExhaustedError
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, tt.wantReason, ex.Reason)
				assert.Equal(t, tt.wantCalls, calls)
				assert.Equal(t, tt.wantCalls, ex.Attempts)
				assert.Equal(t, tt.wantWait, time.Since(start), "gives up at once, without sleeping into the deadline")
				assert.ErrorIs(t, err, errTransient)
			})
		})
	}
}

// waitErr is a failure that asks for a wait, like a 429 with Retry-After.
type waitErr time.Duration

func (e waitErr) Error() string             { return "wait " + time.Duration(e).String() }
func (e waitErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		deadline   time.Duration
		wantDelays []time.Duration // delays of the retries made
		wantReason retry.Reason    // 0: the call succeeds
	}{
		{"longer than the backoff wins", waitErr(3 * time.Second), 0, ms(3000, 3000), 0},
		{"shorter than the backoff loses", waitErr(150 * time.Millisecond), 0, ms(150, 200), 0},
		{"zero is no hint", waitErr(0), 0, ms(100, 200), 0},
		{"found through wrapping", fmt.Errorf("x: %w", waitErr(time.Second)), 0, ms(1000, 1000), 0},
		{"found through an As method", asErr{waitErr(time.Second)}, 0, ms(1000, 1000), 0},
		{"StatusError wait", &resilience.StatusError{Code: 429, Wait: 2 * time.Second}, 0, ms(2000, 2000), 0},
		{"LocalRejection false is a server's answer", notLocal{localRejection{2 * time.Second}}, 0, ms(2000, 2000), 0},
		{"longer than MaxDelay: give up", waitErr(11 * time.Second), 0, nil, retry.ReasonRetryAfter},
		{"longer than the time left: give up", waitErr(2 * time.Second), time.Second, nil, retry.ReasonDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var rec delays
				r := retry.New(retry.Config{Jitter: retry.JitterNone, RetryAfterJitter: resilience.None, OnRetry: rec.onRetry})
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				op, calls := failing(2, tt.err)
				start := time.Now()
				err := r.Do(ctx, op)
				assert.Equal(t, tt.wantDelays, rec.got)
				if tt.wantReason == 0 {
					require.NoError(t, err)
					return
				}
				var ex *retry.ExhaustedError
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, tt.wantReason, ex.Reason)
				assert.EqualValues(t, 1, calls.Load(), "no second attempt")
				assert.Zero(t, time.Since(start), "no sleep")
			})
		})
	}
}

// TestContract checks the Policy contract: sequential calls, Do returns
// after op, and no attempt once the context is done (including a context
// that ends as a delay ends).
func TestContract(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{MaxRetries: 5, Jitter: retry.JitterNone})
		var running, overlaps atomic.Int32
		var returned atomic.Bool
		op := func(context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			time.Sleep(10 * time.Millisecond)
			returned.Store(true)
			return errTransient
		}
		_ = r.Do(t.Context(), op)
		assert.True(t, returned.Load())
		assert.Zero(t, overlaps.Load())

		// A deadline that expires exactly when the delay ends: the
		// attempt is not started (deadline-aware), and Do returns at once.
		ctx, cancel := context.WithTimeout(t.Context(), 110*time.Millisecond)
		defer cancel()
		calls := 0
		start := time.Now()
		err := r.Do(ctx, func(context.Context) error { calls++; time.Sleep(10 * time.Millisecond); return errTransient })
		assert.Equal(t, 1, calls)
		assert.Equal(t, 10*time.Millisecond, time.Since(start))
		assert.ErrorIs(t, err, retry.ErrExhausted)
	})
}

// TestConcurrentUse hammers one Retry, with a seeded generator and a shared
// budget, from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		budget := retry.NewTokenBudget(50, 0.5)
		var retries atomic.Int64
		r := retry.New(retry.Config{
			MaxRetries: 4, Budget: budget, Rand: fixedRand(0.3),
			Jitter:  retry.JitterDecorrelated,
			OnRetry: func(context.Context, int, error, time.Duration) { retries.Add(1) },
		})
		var calls, failures atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 100 {
					attempts := 0
					err := r.Do(t.Context(), func(context.Context) error {
						attempts++
						calls.Add(1)
						if (g+i+attempts)%3 == 0 {
							return nil
						}
						return errTransient
					})
					assert.LessOrEqual(t, attempts, 5)
					if err != nil {
						failures.Add(1)
						assert.ErrorIs(t, err, retry.ErrExhausted)
					}
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 3200+retries.Load(), calls.Load())
		assert.LessOrEqual(t, budget.Tokens(), 50.0)
	})
}

// TestSuccessPathAllocatesNothing is not parallel on purpose: AllocsPerRun
// counts every allocation of the process, and top-level sequential tests run
// while the parallel ones wait.
func TestSuccessPathAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for name, cfg := range map[string]retry.Config{
		"default":           {},
		"token budget":      {Budget: retry.NewTokenBudget(10, 0.1)},
		"ratio budget":      {Budget: retry.NewRatioBudget(retry.RatioConfig{})},
		"max elapsed":       {MaxElapsed: time.Second},
		"no retries":        {MaxRetries: resilience.None},
		"wait on rejection": {WaitOnRejection: true, RetryAfterJitter: 1},
		"interactive":       retry.Interactive(),
		"background":        retry.Background(),
		// An Observer gets two events, by value: still nothing allocated.
		"observer":                  {Observer: noopObserver},
		"observer and ratio budget": {Observer: noopObserver, Budget: retry.NewRatioBudget(retry.RatioConfig{})},
		"observer and max elapsed":  {Observer: noopObserver, MaxElapsed: time.Second},
		"log observer at info":      {Observer: resilience.LogObserver(slog.New(slog.NewTextHandler(io.Discard, nil)), resilience.LogConfig{})},
	} {
		r := retry.New(cfg)
		allocs := testing.AllocsPerRun(100, func() { _ = r.Do(ctx, op) })
		assert.Zero(t, allocs, name)
	}
}

var noopObserver = resilience.ObserverFunc(func(context.Context, resilience.Event) {})

func TestInvalidConfigPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  retry.Config
	}{
		{"negative MaxRetries other than None", retry.Config{MaxRetries: -2}},
		{"negative InitialDelay other than None", retry.Config{InitialDelay: -time.Millisecond}},
		{"Multiplier below 1", retry.Config{Multiplier: 0.5}},
		{"negative Multiplier", retry.Config{Multiplier: -2}},
		{"Multiplier None", retry.Config{Multiplier: resilience.None}},
		{"NaN Multiplier", retry.Config{Multiplier: nan()}},
		{"negative MaxDelay other than None", retry.Config{MaxDelay: -time.Second}},
		{"unknown Jitter", retry.Config{Jitter: 17}},
		{"JitterFactor above 1", retry.Config{Jitter: retry.JitterProportional, JitterFactor: 1.5}},
		{"negative JitterFactor other than None", retry.Config{Jitter: retry.JitterProportional, JitterFactor: -0.1}},
		{"NaN JitterFactor", retry.Config{Jitter: retry.JitterProportional, JitterFactor: nan()}},
		{"negative MaxElapsed", retry.Config{MaxElapsed: -time.Second}},
		{"MaxElapsed None (zero already means no bound)", retry.Config{MaxElapsed: resilience.None}},
		// Point 9 of issue 12: contradictions fail at construction.
		{"MaxDelay below the default InitialDelay", retry.Config{MaxDelay: 50 * time.Millisecond}},
		{"MaxDelay below InitialDelay", retry.Config{InitialDelay: 2 * time.Second, MaxDelay: time.Second}},
		{"InitialDelay above the default MaxDelay", retry.Config{InitialDelay: time.Minute}},
		{"MaxDelay None with the default InitialDelay", retry.Config{MaxDelay: resilience.None}},
		{"JitterFactor without JitterProportional", retry.Config{JitterFactor: 0.2}},
		{"JitterFactor None without JitterProportional", retry.Config{Jitter: retry.JitterEqual, JitterFactor: resilience.None}},
		{"InitialDelay with a Backoff", retry.Config{Backoff: constantBackoff(time.Second), InitialDelay: time.Second}},
		{"Multiplier with a Backoff", retry.Config{Backoff: constantBackoff(time.Second), Multiplier: 2}},
		// Point 2: the spread of a Retry-After is a fraction in [0, 1].
		{"RetryAfterJitter above 1", retry.Config{RetryAfterJitter: 1.5}},
		{"negative RetryAfterJitter other than None", retry.Config{RetryAfterJitter: -0.5}},
		{"NaN RetryAfterJitter", retry.Config{RetryAfterJitter: nan()}},
		{"typed nil Observer", retry.Config{Observer: (*observetest.Log)(nil)}},
		{"nil ObserverFunc", retry.Config{Observer: resilience.ObserverFunc(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				msg, _ := recover().(string)
				assert.Regexp(t, `^retry: `, msg)
			}()
			retry.New(tt.cfg)
			t.Error("New did not panic")
		})
	}
}

func TestPresets(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]retry.Config{"interactive": retry.Interactive(), "background": retry.Background()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NotPanics(t, func() { retry.New(cfg) })
			require.NotNil(t, cfg.Budget)
		})
	}
	i, b := retry.Interactive(), retry.Background()
	assert.Less(t, i.MaxRetries, b.MaxRetries)
	assert.Less(t, i.MaxElapsed, b.MaxElapsed)
	assert.Less(t, i.InitialDelay, b.InitialDelay)
	assert.NotSame(t, retry.Interactive().Budget, retry.Interactive().Budget, "a fresh budget each time")

	// Interactive gives up on a long Retry-After and keeps within 2 s.
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Interactive())
		op, calls := failing(100, waitErr(5*time.Second))
		err := r.Do(t.Context(), op)
		assert.ErrorIs(t, err, retry.ErrExhausted)
		assert.EqualValues(t, 1, calls.Load())

		start := time.Now()
		op, calls = failing(100, errTransient)
		assert.ErrorIs(t, r.Do(t.Context(), op), retry.ErrExhausted)
		assert.EqualValues(t, 3, calls.Load())
		assert.LessOrEqual(t, time.Since(start), 100*time.Millisecond)
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})
}

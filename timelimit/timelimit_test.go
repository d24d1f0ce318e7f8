package timelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/timelimit"
)

var _ resilience.Policy = (*timelimit.TimeLimit)(nil)

func TestNewPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    time.Duration
		cfg  timelimit.Config
		want string
	}{
		{"zero", 0, timelimit.Config{}, "timelimit: time limit 0s is not positive"},
		{"negative", -time.Second, timelimit.Config{}, "timelimit: time limit -1s is not positive"},
		{"negative grace", time.Second, timelimit.Config{Grace: -2}, "timelimit: negative Grace -2ns"},
		{"typed nil Observer", time.Second, timelimit.Config{Observer: (*observetest.Log)(nil)}, "timelimit: Observer is a nil *observetest.Log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.want, func() { timelimit.New(tt.d, tt.cfg) })
		})
	}
}

func TestInTime(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, want := range []error{nil, boom} {
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := timelimit.New(time.Second, timelimit.Config{})
				assert.Equal(t, time.Second, l.Limit())
				ctx := resilience.WithKey(t.Context(), "k")
				var opCtx context.Context
				calls := 0
				err := l.Do(ctx, func(ctx context.Context) error {
					calls++
					opCtx = ctx
					deadline, ok := ctx.Deadline()
					assert.True(t, ok)
					assert.Equal(t, time.Now().Add(time.Second), deadline)
					assert.Equal(t, "k", resilience.KeyFrom(ctx), "derived from the caller's context")
					time.Sleep(999 * time.Millisecond)
					return want
				})
				assert.Equal(t, want, err)
				assert.Equal(t, 1, calls)
				assert.Equal(t, context.Canceled, opCtx.Err(), "released when op returned")
				assert.Equal(t, timelimit.Metrics{}, l.Metrics())
			})
		})
	}
}

func TestOwnDeadline(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		op      func(ctx context.Context) error
		wantErr error // what the TimeoutError wraps
		msg     string
	}{
		{"returns ctx.Err", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			context.DeadlineExceeded, "timelimit: timed out after 1s: context deadline exceeded"},
		{"returns the cause", func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) },
			context.DeadlineExceeded, "timelimit: timed out after 1s: context deadline exceeded"},
		{"returns its own error", func(ctx context.Context) error { <-ctx.Done(); return boom },
			boom, "timelimit: timed out after 1s: boom"},
		{"returns nil", func(ctx context.Context) error { <-ctx.Done(); return nil },
			nil, "timelimit: timed out after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var hooked []*timelimit.TimeoutError
				l := timelimit.New(time.Second, timelimit.Config{
					OnTimeout: func(_ context.Context, err *timelimit.TimeoutError) { hooked = append(hooked, err) },
					OnLate:    func(context.Context, time.Duration) { t.Error("an op that honours its context is not late") },
				})
				var cause error
				t0 := time.Now()
				err := l.Do(t.Context(), func(ctx context.Context) error {
					defer func() { cause = context.Cause(ctx) }()
					return tt.op(ctx)
				})
				assert.Equal(t, time.Second, time.Since(t0))

				require.ErrorIs(t, err, timelimit.ErrTimeout)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				var te *timelimit.TimeoutError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, time.Second, te.Limit())
				assert.Equal(t, tt.wantErr, te.Unwrap())
				assert.Equal(t, tt.wantErr, errors.Unwrap(err))
				assert.Equal(t, tt.msg, err.Error())
				assert.Equal(t, 503, te.HTTPStatus())
				assert.True(t, te.Timeout())
				assert.Equal(t, []*timelimit.TimeoutError{te}, hooked)
				assert.Equal(t, timelimit.Metrics{Timeouts: 1}, l.Metrics())

				require.ErrorIs(t, cause, timelimit.ErrTimeout, "op sees why its context ended")
				require.ErrorIs(t, cause, context.DeadlineExceeded)
			})
		})
	}
}

func TestCallerContextPassesThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		parent func(context.Context) (context.Context, context.CancelFunc)
		after  time.Duration
		want   error
	}{
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 300*time.Millisecond)
		}, 300 * time.Millisecond, context.DeadlineExceeded},
		{"cancel", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, 200 * time.Millisecond, context.Canceled},
		{"deadline at the same instant", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second)
		}, time.Second, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := timelimit.New(time.Second, timelimit.Config{
					OnTimeout: func(context.Context, *timelimit.TimeoutError) { t.Error("not our timeout") },
				})
				ctx, cancel := tt.parent(t.Context())
				defer cancel()
				t0 := time.Now()
				err := l.Do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
				assert.Equal(t, tt.after, time.Since(t0))
				assert.Equal(t, tt.want, err, "unchanged")
				assert.NotErrorIs(t, err, timelimit.ErrTimeout)
				assert.Equal(t, timelimit.Metrics{}, l.Metrics())
			})
		})
	}
}

func TestLate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		grace    time.Duration
		runs     time.Duration
		wantLate bool
	}{
		{"ignores its context", 0, 3 * time.Second, true},
		{"within the default grace", 0, time.Second + 10*time.Millisecond, false},
		{"past the default grace", 0, time.Second + 11*time.Millisecond, true},
		{"within a longer grace", 500 * time.Millisecond, 1400 * time.Millisecond, false},
		{"past a longer grace", 500 * time.Millisecond, 1600 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var lates []time.Duration
				var order []string
				l := timelimit.New(time.Second, timelimit.Config{
					Grace: tt.grace,
					OnLate: func(_ context.Context, late time.Duration) {
						lates = append(lates, late)
						order = append(order, "late")
					},
					OnTimeout: func(context.Context, *timelimit.TimeoutError) { order = append(order, "timeout") },
				})
				t0 := time.Now()
				err := l.Do(t.Context(), func(context.Context) error {
					time.Sleep(tt.runs) // ignores ctx
					return nil
				})
				assert.Equal(t, tt.runs, time.Since(t0), "waits for op: never abandons it")
				require.ErrorIs(t, err, timelimit.ErrTimeout, "the result came too late")
				if tt.wantLate {
					assert.Equal(t, []time.Duration{tt.runs - time.Second}, lates)
					assert.Equal(t, []string{"late", "timeout"}, order)
					assert.Equal(t, timelimit.Metrics{Timeouts: 1, Late: 1}, l.Metrics())
				} else {
					assert.Empty(t, lates)
					assert.Equal(t, timelimit.Metrics{Timeouts: 1}, l.Metrics())
				}
			})
		})
	}
}

func TestPanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := timelimit.New(time.Second, timelimit.Config{})
		var opCtx context.Context
		type boom struct{}
		got := func() (v any) {
			defer func() { v = recover() }()
			_ = l.Do(t.Context(), func(ctx context.Context) error {
				opCtx = ctx
				panic(boom{})
			})
			return nil
		}()
		assert.Equal(t, boom{}, got, "the panic propagates unchanged")
		assert.Equal(t, context.Canceled, opCtx.Err(), "the timer is released")
		assert.Equal(t, timelimit.Metrics{}, l.Metrics())
	})
}

// retrying is a minimal retry policy for the tests: up to n attempts while
// the caller's context lives.
func retrying(n int) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for range n {
			if err = op(ctx); err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
}

func TestPlacement(t *testing.T) {
	t.Parallel()
	// Every attempt hangs until its context ends.
	hang := func(attempts *int) func(context.Context) error {
		return func(ctx context.Context) error {
			*attempts++
			<-ctx.Done()
			return ctx.Err()
		}
	}
	tests := []struct {
		name     string
		policy   resilience.Policy
		attempts int
		took     time.Duration
	}{
		{"per attempt", resilience.Chain(retrying(3), timelimit.New(time.Second, timelimit.Config{})), 3, 3 * time.Second},
		{"total", resilience.Chain(timelimit.New(time.Second, timelimit.Config{}), retrying(3)), 1, time.Second},
		{"both", resilience.Chain(timelimit.New(2500*time.Millisecond, timelimit.Config{}), retrying(3), timelimit.New(time.Second, timelimit.Config{})),
			3, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				attempts := 0
				t0 := time.Now()
				err := tt.policy.Do(t.Context(), hang(&attempts))
				require.ErrorIs(t, err, timelimit.ErrTimeout)
				assert.Equal(t, tt.attempts, attempts)
				assert.Equal(t, tt.took, time.Since(t0))
			})
		})
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", timelimit.New(time.Second, timelimit.Config{}).Name())
	assert.Equal(t, "db", timelimit.New(time.Second, timelimit.Config{Name: "db"}).Name())
}

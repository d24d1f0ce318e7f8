package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

func nop(context.Context) error { return nil }

func TestNewPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func()
		msg  string
	}{
		{"negative rate", func() { ratelimit.New(-1, 1, ratelimit.Config{}) }, "ratelimit: invalid limit"},
		{"negative burst", func() { ratelimit.New(1, -1, ratelimit.Config{}) }, "ratelimit: invalid limit"},
		{"negative MaxWait", func() { ratelimit.New(1, 1, ratelimit.Config{MaxWait: -2}) }, "ratelimit: negative MaxWait"},
		{"negative MaxQueue", func() { ratelimit.New(1, 1, ratelimit.Config{MaxWait: 1, MaxQueue: -2}) }, "ratelimit: negative MaxQueue"},
		{"negative MaxPause", func() { ratelimit.New(1, 1, ratelimit.Config{MaxPause: -2}) }, "ratelimit: negative MaxPause"},
		{"unknown HeaderMode", func() { ratelimit.New(1, 1, ratelimit.Config{Headers: 9}) }, "ratelimit: unknown HeaderMode"},
		{"None queue with a wait", func() {
			ratelimit.New(1, 1, ratelimit.Config{MaxWait: time.Second, MaxQueue: resilience.None})
		}, "ratelimit: MaxQueue None"},
		{"PerWindow zero calls", func() { ratelimit.PerWindow(0, time.Minute) }, "ratelimit: PerWindow"},
		{"keyed negative MaxKeys", func() { ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{MaxKeys: -1}) }, "ratelimit: negative MaxKeys"},
		{"PerWindow zero window", func() { ratelimit.PerWindow(1, 0) }, "ratelimit: PerWindow"},
		{"SetLimit negative", func() { ratelimit.New(1, 1, ratelimit.Config{}).SetQuota(ratelimit.Quota{Rate: -2}) }, "ratelimit: invalid limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				require.NotNil(t, r)
				assert.Contains(t, r, tt.msg)
			}()
			tt.fn()
		})
	}
}

func TestLimiterBurstThenRate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(10, 5, ratelimit.Config{})
		ctx := context.Background()
		for i := range 5 {
			require.NoError(t, l.Do(ctx, nop), "call %d of the burst", i)
		}
		calls := 0
		err := l.Do(ctx, func(context.Context) error { calls++; return nil })
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		assert.Zero(t, calls, "a rejected call must not run op")
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonRate, le.Reason())
		assert.Equal(t, 100*time.Millisecond, le.RetryAfter())
		assert.Equal(t, http.StatusTooManyRequests, le.HTTPStatus())
		assert.False(t, le.Permanent())
		d, ok := resilience.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 100*time.Millisecond, d)

		time.Sleep(100 * time.Millisecond)
		require.NoError(t, l.Do(ctx, nop))
		assert.False(t, l.Allow())
		time.Sleep(time.Second)
		assert.True(t, l.AllowN(5), "the bucket refilled to its burst")
		assert.False(t, l.Allow())
	})
}

func TestLimiterDoReturnsOpError(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(rate.Inf, 0, ratelimit.Config{})
	boom := errors.New("boom")
	calls := 0
	err := l.Do(context.Background(), func(context.Context) error { calls++; return boom })
	assert.Same(t, boom, err)
	assert.Equal(t, 1, calls)
}

func TestLimiterDoPassesContext(t *testing.T) {
	t.Parallel()
	type k struct{}
	ctx := context.WithValue(context.Background(), k{}, 1)
	l := ratelimit.New(1, 1, ratelimit.Config{})
	require.NoError(t, l.Do(ctx, func(got context.Context) error {
		assert.Equal(t, 1, got.Value(k{}))
		return nil
	}))
}

func TestLimiterPanicPropagates(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(1, 2, ratelimit.Config{})
	assert.PanicsWithValue(t, "op", func() {
		_ = l.Do(context.Background(), func(context.Context) error { panic("op") })
	})
	// The token of the panicking call stays spent; the limiter still works.
	require.NoError(t, l.Do(context.Background(), nop))
	assert.False(t, l.Allow())
}

func TestLimiterMaxWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // 0: none
		wantErr  bool
		wantWait time.Duration // time the call took
	}{
		{"waits for its token", time.Second, 0, false, 100 * time.Millisecond},
		{"wait longer than MaxWait is refused at once", 50 * time.Millisecond, 0, true, 0},
		{"wait past the deadline is refused at once", time.Second, 50 * time.Millisecond, true, 0},
		{"deadline long enough", time.Second, time.Second, false, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := ratelimit.New(10, 1, ratelimit.Config{MaxWait: tt.maxWait})
				ctx := context.Background()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				require.True(t, l.Allow())
				start := time.Now()
				err := l.Do(ctx, nop)
				assert.Equal(t, tt.wantWait, time.Since(start))
				if tt.wantErr {
					require.ErrorIs(t, err, ratelimit.ErrLimited)
					d, _ := resilience.RetryAfter(err)
					assert.Equal(t, 100*time.Millisecond, d)
					return
				}
				require.NoError(t, err)
			})
		})
	}
}

func TestLimiterCancelGivesReservationBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(1, 1, ratelimit.Config{MaxWait: 10 * time.Second})
		require.True(t, l.Allow())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Wait(ctx) }()
		synctest.Wait()
		assert.Equal(t, 1, l.Waiting())
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		cancel()
		err := <-done
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, time.Since(start), "a cancelled waiter returns at once")
		assert.Equal(t, 0, l.Waiting())
		// Had the reservation not been given back, the next token would come
		// at 2s; it comes at 1s.
		time.Sleep(900 * time.Millisecond)
		assert.True(t, l.Allow())
	})
}

func TestLimiterMaxQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var hooked []ratelimit.Reason
		var mu sync.Mutex
		l := ratelimit.New(1, 1, ratelimit.Config{MaxWait: time.Minute, MaxQueue: 1,
			OnLimited: func(_ context.Context, e *ratelimit.LimitedError) {
				mu.Lock()
				hooked = append(hooked, e.Reason())
				mu.Unlock()
			}})
		require.True(t, l.Allow())
		done := make(chan error)
		go func() { done <- l.Do(context.Background(), nop) }()
		synctest.Wait()
		err := l.Do(context.Background(), nop)
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonQueueFull, le.Reason())
		require.NoError(t, <-done)
		mu.Lock()
		assert.Equal(t, []ratelimit.Reason{ratelimit.ReasonQueueFull}, hooked)
		mu.Unlock()
		// The refused call gave its reservation back: the next token is due
		// 1s after the waiter's, not 2s.
		time.Sleep(time.Second)
		assert.True(t, l.Allow())
	})
}

func TestLimiterTooCostly(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(10, 3, ratelimit.Config{MaxWait: time.Hour})
	err := l.WaitN(context.Background(), 4)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, ratelimit.ReasonTooCostly, le.Reason())
	assert.True(t, resilience.IsPermanent(err))
	_, ok := resilience.RetryAfter(err)
	assert.False(t, ok)
	d, err := l.Take(context.Background(), "", 4)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, ratelimit.ReasonTooCostly, d.Reason)
}

func TestLimiterPausesOn429(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Ratelimit": {`"default";r=0;t=4`}}}
	tests := []struct {
		name   string
		cfg    ratelimit.Config
		err    error
		paused time.Duration
	}{
		{"Retry-After", ratelimit.Config{}, &resilience.StatusError{Code: 429, Wait: 3 * time.Second}, 3 * time.Second},
		{"RateLimit header", ratelimit.Config{}, &resilience.StatusError{Code: 429, Response: resp}, 4 * time.Second},
		{"wrapped", ratelimit.Config{}, resilience.Permanent(&resilience.StatusError{Code: 429, Wait: time.Second}), time.Second},
		{"503 does not pause", ratelimit.Config{}, &resilience.StatusError{Code: 503, Wait: 3 * time.Second}, 0},
		{"429 without a wait", ratelimit.Config{}, &resilience.StatusError{Code: 429}, 0},
		{"MaxPause None", ratelimit.Config{MaxPause: resilience.None}, &resilience.StatusError{Code: 429, Wait: 3 * time.Second}, 0},
		{"MaxPause caps", ratelimit.Config{MaxPause: 2 * time.Second}, &resilience.StatusError{Code: 429, Wait: 3 * time.Second}, 2 * time.Second},
		{"own rejection does not pause", ratelimit.Config{}, ratelimit.NewLimitedError("", ratelimit.ReasonRate, time.Second, nil), 0},
		{"other 429 error", ratelimit.Config{}, status429{}, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := ratelimit.New(100, 100, tt.cfg)
				ctx := context.Background()
				err := l.Do(ctx, func(context.Context) error { return tt.err })
				assert.Equal(t, tt.err, err)
				if tt.paused == 0 {
					assert.NoError(t, l.Do(ctx, nop))
					return
				}
				err = l.Do(ctx, nop)
				var le *ratelimit.LimitedError
				require.ErrorAs(t, err, &le)
				assert.Equal(t, ratelimit.ReasonPaused, le.Reason())
				assert.Equal(t, tt.paused, le.RetryAfter())
				assert.False(t, l.Allow())
				d, _ := l.Take(ctx, "", 1)
				assert.Equal(t, ratelimit.ReasonPaused, d.Reason)
				time.Sleep(tt.paused)
				assert.NoError(t, l.Do(ctx, nop))
			})
		})
	}
}

type status429 struct{}

func (status429) Error() string             { return "429" }
func (status429) HTTPStatus() int           { return 429 }
func (status429) RetryAfter() time.Duration { return 2 * time.Second }

func TestLimiterPauseWaitsWithinMaxWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(100, 1, ratelimit.Config{MaxWait: 5 * time.Second})
		l.Pause(2 * time.Second)
		l.Pause(time.Second) // shorter: ignored
		start := time.Now()
		require.NoError(t, l.Do(context.Background(), nop))
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestLimiterTake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(2, 10, ratelimit.Config{Name: "api"})
		ctx := context.Background()
		d, err := l.Take(ctx, "ignored", 4)
		require.NoError(t, err)
		assert.Equal(t, ratelimit.Decision{Allowed: true, Quota: ratelimit.Quota{Rate: 2, Burst: 10, Name: "api"},
			Remaining: 6, Reset: 2 * time.Second}, d)
		d, _ = l.Take(ctx, "", 7)
		assert.False(t, d.Allowed)
		assert.Equal(t, ratelimit.ReasonRate, d.Reason)
		assert.Equal(t, 6, d.Remaining)
		assert.Equal(t, 500*time.Millisecond, d.RetryAfter)
		d, _ = l.Take(ctx, "", 0)
		assert.True(t, d.Allowed, "cost 0 is free")
	})
}

func TestLimiterSetLimit(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(1, 1, ratelimit.Config{})
	l.SetQuota(ratelimit.Quota{Rate: 5, Burst: 3})
	assert.Equal(t, ratelimit.Quota{Rate: 5, Burst: 1 * 3}, l.Quota())
	assert.InDelta(t, 1, l.Tokens(), 0.01)
}

func TestLimiterInf(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(rate.Inf, 0, ratelimit.Config{})
	for range 1000 {
		require.NoError(t, l.Do(context.Background(), nop))
	}
	d, _ := l.Take(context.Background(), "", 10)
	assert.True(t, d.Allowed)
}

// TestLimiterHammer runs many concurrent callers against one limiter for a
// virtual second: exactly burst + rate calls get through.
func TestLimiterHammer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(100, 10, ratelimit.Config{MaxWait: 50 * time.Millisecond})
		var admitted, refused atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(time.Second)
		for range 16 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					err := l.Do(context.Background(), func(context.Context) error { admitted.Add(1); return nil })
					if err != nil {
						refused.Add(1)
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		// Calls that started before the deadline may be admitted up to
		// MaxWait after it.
		most := 10 + 100*time.Since(start).Seconds()
		assert.LessOrEqual(t, float64(admitted.Load()), most)
		assert.GreaterOrEqual(t, admitted.Load(), int64(109))
		assert.Positive(t, refused.Load())
	})
}

package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

var (
	errOverloaded = &resilience.StatusError{Code: http.StatusServiceUnavailable}
	errNotFound   = &resilience.StatusError{Code: http.StatusNotFound}
)

func TestThrottleConfigPanics(t *testing.T) {
	t.Parallel()
	for _, c := range []ThrottleConfig{{K: 0.5}, {Window: -time.Second}, {Buckets: -1}, {Window: time.Nanosecond, Buckets: 20}} {
		assert.Panics(t, func() { NewThrottle(c) }, "%+v", c)
	}
}

func TestThrottleFormula(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		k                 float64
		accepted, refused int
		want              float64
	}{
		{"all accepted", 2, 100, 0, 0},
		{"half refused, K=2", 2, 50, 50, 0},
		{"all refused", 2, 0, 99, 0.99},
		{"90% refused, K=2", 2, 10, 90, (100 - 2*10) / 101.0},
		{"90% refused, K=1.1", 1.1, 10, 90, (100 - 1.1*10) / 101.0},
		{"other errors are accepts", 2, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := NewThrottle(ThrottleConfig{K: tt.k})
			a.rand = func() float64 { return 1 } // never drop while recording
			ctx := context.Background()
			for range tt.accepted {
				require.NoError(t, a.Do(ctx, func(context.Context) error { return nil }))
			}
			for range tt.refused {
				require.Equal(t, errOverloaded, a.Do(ctx, func(context.Context) error { return errOverloaded }))
			}
			if tt.name == "other errors are accepts" {
				for range 10 {
					_ = a.Do(ctx, func(context.Context) error { return errNotFound })
				}
			}
			assert.InDelta(t, tt.want, a.Probability(), 1e-9)
		})
	}
}

func TestThrottleDrops(t *testing.T) {
	t.Parallel()
	var probs []float64
	a := NewThrottle(ThrottleConfig{OnThrottled: func(_ context.Context, p float64) { probs = append(probs, p) }})
	ctx := resilience.WithKey(context.Background(), "backend")
	a.rand = func() float64 { return 1 }
	for range 50 {
		_ = a.Do(ctx, func(context.Context) error { return errOverloaded })
	}
	a.rand = func() float64 { return 0.5 }
	calls := 0
	err := a.Do(ctx, func(context.Context) error { calls++; return nil })
	assert.Zero(t, calls)
	require.ErrorIs(t, err, ErrThrottled)
	require.ErrorIs(t, err, ErrLimited)
	var le *LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "backend", le.Key())
	assert.Equal(t, ReasonThrottled, le.Reason())
	assert.Equal(t, []float64{50.0 / 51}, probs)
	req, acc := a.Counts()
	assert.Equal(t, 51, req, "dropped calls count as requests")
	assert.Zero(t, acc)
	assert.False(t, errors.Is(&LimitedError{}, ErrThrottled))
}

func TestThrottleWindowExpires(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := NewThrottle(ThrottleConfig{Window: 10 * time.Second, Buckets: 10})
		a.rand = func() float64 { return 1 }
		for range 20 {
			_ = a.Do(context.Background(), func(context.Context) error { return errOverloaded })
		}
		time.Sleep(5 * time.Second)
		for range 20 {
			_ = a.Do(context.Background(), func(context.Context) error { return nil })
		}
		req, acc := a.Counts()
		assert.Equal(t, 40, req)
		assert.Equal(t, 20, acc)
		time.Sleep(6 * time.Second) // the first 20 fell out
		req, acc = a.Counts()
		assert.Equal(t, 20, req)
		assert.Equal(t, 20, acc)
		time.Sleep(time.Minute)
		req, acc = a.Counts()
		assert.Zero(t, req)
		assert.Zero(t, acc)
		assert.Zero(t, a.Probability())
	})
}

func TestThrottleCustomRejected(t *testing.T) {
	t.Parallel()
	a := NewThrottle(ThrottleConfig{Rejected: func(err error) bool { return err != nil }})
	a.rand = func() float64 { return 1 }
	_ = a.Do(context.Background(), func(context.Context) error { return errNotFound })
	_, acc := a.Counts()
	assert.Zero(t, acc)
}

func TestThrottlePanicCountsAsNotAccepted(t *testing.T) {
	t.Parallel()
	a := NewThrottle(ThrottleConfig{})
	a.rand = func() float64 { return 1 }
	assert.PanicsWithValue(t, "op", func() {
		_ = a.Do(context.Background(), func(context.Context) error { panic("op") })
	})
	req, acc := a.Counts()
	assert.Equal(t, 1, req)
	assert.Zero(t, acc)
	require.NoError(t, a.Do(context.Background(), func(context.Context) error { return nil }))
}

func TestOverloaded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{&resilience.StatusError{Code: 429}, true},
		{&resilience.StatusError{Code: 503}, true},
		{&resilience.StatusError{Code: 500}, false},
		{&LimitedError{}, true},
		{NewLimitedError("", ReasonUnavailable, 0, nil), true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, overloaded(tt.err), "%v", tt.err)
	}
}

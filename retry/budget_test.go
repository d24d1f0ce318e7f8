package retry_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

func TestTokenBudgetArithmetic(t *testing.T) {
	t.Parallel()
	b := retry.NewTokenBudget(10, 0.1)
	assert.InDelta(t, 10, b.Tokens(), 0)
	assert.True(t, b.Withdraw())
	b.Withdraw()
	assert.InDelta(t, 10, b.Tokens(), 0, "Withdraw takes nothing")

	b.Success()
	assert.InDelta(t, 10, b.Tokens(), 0, "never above MaxTokens")

	for range 4 {
		b.Failure()
	}
	assert.InDelta(t, 6, b.Tokens(), 0)
	assert.True(t, b.Withdraw(), "6 > 5")
	b.Failure()
	assert.InDelta(t, 5, b.Tokens(), 0)
	assert.False(t, b.Withdraw(), "no retries at MaxTokens/2")

	b.Success()
	assert.InDelta(t, 5.1, b.Tokens(), 1e-9, "fixed point: exactly 5.1")
	assert.True(t, b.Withdraw())

	for range 20 {
		b.Failure()
	}
	assert.InDelta(t, 0, b.Tokens(), 0, "never below zero")
	for range 51 {
		b.Success()
	}
	assert.InDelta(t, 5.1, b.Tokens(), 1e-9, "51 successes refill 5.1 tokens")
	assert.True(t, b.Withdraw())
	b.Request() // no effect
	assert.InDelta(t, 5.1, b.Tokens(), 1e-9)
}

func TestTokenBudgetOddSizes(t *testing.T) {
	t.Parallel()
	b := retry.NewTokenBudget(3, 0.25) // threshold 1.5
	b.Failure()
	assert.True(t, b.Withdraw(), "2 > 1.5")
	b.Failure()
	assert.False(t, b.Withdraw(), "1 <= 1.5")
	b.Success()
	b.Success()
	assert.InDelta(t, 1.5, b.Tokens(), 1e-9)
	assert.False(t, b.Withdraw(), "1.5 is not above 1.5")
	b.Success()
	assert.True(t, b.Withdraw(), "1.75 > 1.5")
}

func TestTokenBudgetConcurrent(t *testing.T) {
	t.Parallel()
	b := retry.NewTokenBudget(1000, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Failure()
				b.Withdraw()
				b.Success()
			}
		})
	}
	wg.Wait()
	assert.InDelta(t, 1000, b.Tokens(), 0, "equal failures and successes of one token each: back to full")

	b2 := retry.NewTokenBudget(100, 1)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b2.Failure()
			}
		})
	}
	wg.Wait()
	assert.InDelta(t, 0, b2.Tokens(), 0, "every failure counted, floor at zero")
}

func TestRatioBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// 50 % of requests, 1 retry per second of reserve, 10 s window:
		// 10 retries in reserve.
		b := retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.5, MinPerSecond: 1, Window: 10 * time.Second})
		withdraw := func() int {
			n := 0
			for b.Withdraw() {
				n++
			}
			return n
		}
		assert.Equal(t, 10, withdraw(), "the reserve alone")

		for range 40 {
			b.Request()
		}
		assert.Equal(t, 20, withdraw(), "half of 40 requests")
		b.Success()
		b.Failure()
		assert.Zero(t, withdraw(), "outcomes do not matter")

		time.Sleep(5 * time.Second)
		for range 10 {
			b.Request()
		}
		assert.Equal(t, 5, withdraw())

		// The first second's requests and retries leave the window
		// after 10 s; the later 10 requests and 5 retries stay.
		time.Sleep(5*time.Second + time.Millisecond)
		assert.Equal(t, 10, withdraw(), "reserve 10 + 10·0.5 − 5 retries still in window")

		time.Sleep(10 * time.Second)
		assert.Equal(t, 10, withdraw(), "an empty window: the reserve again")
	})
}

func TestRatioBudgetDefaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := retry.NewRatioBudget(retry.RatioConfig{})
		n := 0
		for b.Withdraw() {
			n++
		}
		assert.Equal(t, 100, n, "10 per second over 10 s")

		none := retry.NewRatioBudget(retry.RatioConfig{MinPerSecond: -1, Ratio: 2})
		assert.False(t, none.Withdraw(), "no reserve, no requests")
		none.Request()
		assert.True(t, none.Withdraw())
		assert.True(t, none.Withdraw())
		assert.False(t, none.Withdraw(), "2 retries per request")
	})
}

// TestRatioBudgetNone: resilience.None says "none" for Ratio and
// MinPerSecond, whose zero means a default (point 10 of issue 12).
func TestRatioBudgetNone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reserveOnly := retry.NewRatioBudget(retry.RatioConfig{Ratio: resilience.None, MinPerSecond: 1})
		for range 100 {
			reserveOnly.Request()
		}
		n := 0
		for reserveOnly.Withdraw() {
			n++
		}
		assert.Equal(t, 10, n, "1 per second over 10 s, none for the 100 requests")

		nothing := retry.NewRatioBudget(retry.RatioConfig{Ratio: resilience.None, MinPerSecond: resilience.None})
		nothing.Request()
		assert.False(t, nothing.Withdraw())
	})
}

func TestRatioBudgetConcurrentNeverOverruns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.1, MinPerSecond: -1, Window: time.Minute})
		for range 1000 {
			b.Request()
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		for range 16 {
			wg.Go(func() {
				for range 100 {
					if b.Withdraw() {
						mu.Lock()
						granted++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, granted, 100)
		assert.Positive(t, granted)
	})
}

func TestBudgetConstructorsPanic(t *testing.T) {
	t.Parallel()
	tests := map[string]func(){
		"zero max tokens":               func() { retry.NewTokenBudget(0, 0.1) },
		"huge max tokens":               func() { retry.NewTokenBudget(2e9, 0.1) },
		"zero ratio":                    func() { retry.NewTokenBudget(10, 0) },
		"ratio above max":               func() { retry.NewTokenBudget(1, 2) },
		"tiny tokens":                   func() { retry.NewTokenBudget(0.0001, 0.0001) },
		"negative ratio":                func() { retry.NewRatioBudget(retry.RatioConfig{Ratio: -0.5}) },
		"ratio above 100":               func() { retry.NewRatioBudget(retry.RatioConfig{Ratio: 101}) },
		"short window":                  func() { retry.NewRatioBudget(retry.RatioConfig{Window: time.Millisecond}) },
		"negative window":               func() { retry.NewRatioBudget(retry.RatioConfig{Window: -time.Second}) },
		"NaN minimum per second":        func() { retry.NewRatioBudget(retry.RatioConfig{MinPerSecond: nan()}) },
		"NaN ratio":                     func() { retry.NewRatioBudget(retry.RatioConfig{Ratio: nan()}) },
		"ratio below None":              func() { retry.NewRatioBudget(retry.RatioConfig{Ratio: -2}) },
		"minimum per second below None": func() { retry.NewRatioBudget(retry.RatioConfig{MinPerSecond: -2}) },
		"window None":                   func() { retry.NewRatioBudget(retry.RatioConfig{Window: resilience.None}) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				msg, _ := recover().(string)
				assert.Regexp(t, `^retry: `, msg)
			}()
			f()
			t.Error("no panic")
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestBudgetInRetry checks how Do uses a budget: exhausted, a call still
// makes its first attempt; successes refill it; two Retry share it.
func TestBudgetInRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		budget := retry.NewTokenBudget(4, 1) // retries while tokens > 2
		a := retry.New(retry.Config{MaxRetries: 5, Budget: budget})
		b := retry.New(retry.Config{MaxRetries: 5, Budget: budget})

		op, calls := failing(100, errTransient)
		err := a.Do(t.Context(), op)
		var ex *retry.ExhaustedError
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonBudget, ex.Reason)
		assert.EqualValues(t, 2, calls.Load(), "4→3: retry; 3→2: stop")
		assert.InDelta(t, 2, budget.Tokens(), 0)

		op, calls = failing(100, errTransient)
		err = b.Do(t.Context(), op)
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonBudget, ex.Reason)
		assert.EqualValues(t, 1, calls.Load(), "the other Retry shares the spent budget: first attempt only")
		assert.Equal(t, 1, ex.Attempts)

		succeed := func(context.Context) error { return nil }
		require.NoError(t, b.Do(t.Context(), succeed))
		assert.InDelta(t, 2, budget.Tokens(), 0, "1 + 1 success")

		op, calls = failing(1, errTransient)
		require.ErrorIs(t, a.Do(t.Context(), op), retry.ErrExhausted, "2→1: still no retry")
		assert.EqualValues(t, 1, calls.Load())

		for range 3 {
			require.NoError(t, b.Do(t.Context(), succeed))
		}
		assert.InDelta(t, 4, budget.Tokens(), 0, "refilled by successes")
		op, calls = failing(1, errTransient)
		require.NoError(t, a.Do(t.Context(), op), "4→3: retries again")
		assert.EqualValues(t, 2, calls.Load())
	})
}

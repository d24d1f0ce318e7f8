package retry_test

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
	"github.com/resiliencekit/resilience/retry"
)

// errRefused is the sentinel of localRejection, as breaker.ErrOpen is of
// an open breaker's error.
var errRefused = errors.New("test: refused")

// localRejection is a refusal by a policy of this process, as an open
// breaker's: it joins the LocalRejection protocol, matches errRefused and
// carries a RetryAfter (the time until the next probe), 0 for none.
type localRejection struct{ wait time.Duration }

func (e localRejection) Error() string             { return "refused, next probe in " + e.wait.String() }
func (e localRejection) Is(target error) bool      { return target == errRefused }
func (e localRejection) LocalRejection() bool      { return true }
func (e localRejection) RetryAfter() time.Duration { return e.wait }

// notLocal has the method of the protocol but says false: it is a
// server's answer, like a 503 with Retry-After.
type notLocal struct{ localRejection }

func (notLocal) LocalRejection() bool { return false }

// TestLocalRejectionEndsRetry is point 1 of issue 12: a retry does not
// wait out a rejection by a policy of this process. Before, an open
// breaker whose next probe was 10 s away (≤ MaxDelay) made every call
// sleep 10 s per retry, while 11 s (> MaxDelay) gave up at once: a cliff.
// Now both end at once, after one attempt, whatever the RetryAfter.
func TestLocalRejectionEndsRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"next probe in 10s (= MaxDelay)", localRejection{10 * time.Second}},
		{"next probe in 11s (> MaxDelay)", localRejection{11 * time.Second}},
		{"next probe in 1s", localRejection{time.Second}},
		{"no RetryAfter (a full bulkhead)", localRejection{}},
		{"wrapped", fmt.Errorf("call: %w", localRejection{time.Second})},
		{"joined with a server's answer", errors.Join(localRejection{time.Second}, &resilience.StatusError{Code: 503})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				budget := retry.NewTokenBudget(10, 1)
				var rec delays
				r := retry.New(retry.Config{Budget: budget, OnRetry: rec.onRetry})
				op, calls := failing(100, tt.err)
				start := time.Now()
				err := r.Do(t.Context(), op)
				assert.Zero(t, time.Since(start), "no wait for a local rejection")
				assert.EqualValues(t, 1, calls.Load(), "one attempt")
				assert.Empty(t, rec.got, "no retry")
				require.ErrorIs(t, err, errRefused, "the rejection's sentinel still matches")
				require.ErrorIs(t, err, retry.ErrExhausted)
				var ex *retry.ExhaustedError
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, retry.ReasonRejected, ex.Reason)
				assert.Equal(t, 1, ex.Attempts)
				assert.Equal(t, tt.err, ex.Err)
				assert.InDelta(t, 10, budget.Tokens(), 1e-9, "a local rejection is not a failure of the dependency")
			})
		})
	}
}

// TestLocalRejectionOrder: a local rejection that is permanent, that
// Retryable rejects, or that comes after the caller's context ended is
// returned as it is, like any error not retried.
func TestLocalRejectionOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rej := localRejection{time.Second}
		r := retry.New(retry.Config{Retryable: func(err error) bool { return !errors.Is(err, errRefused) }})
		op, _ := failing(100, rej)
		assert.Equal(t, rej, r.Do(t.Context(), op), "Retryable decides first")

		perm := resilience.Permanent(rej)
		r = retry.New(retry.Config{})
		op, _ = failing(100, perm)
		assert.Equal(t, perm, r.Do(t.Context(), op), "permanent decides first")

		ctx, cancel := context.WithCancel(t.Context())
		err := r.Do(ctx, func(context.Context) error { cancel(); return rej })
		assert.Equal(t, rej, err, "after the caller's context ended")
	})
}

// TestWaitOnRejection: the opt-in waits for a local rejection that
// carries a RetryAfter as for a server's, and still ends at once on one
// that carries none.
func TestWaitOnRejection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		deadline   time.Duration
		wantDelays []time.Duration
		wantReason retry.Reason // 0: the call succeeds
	}{
		{"waits the RetryAfter", localRejection{2 * time.Second}, 0, ms(2000), 0},
		{"the backoff when it is longer", localRejection{50 * time.Millisecond}, 0, ms(100), 0},
		{"longer than MaxDelay: give up", localRejection{11 * time.Second}, 0, nil, retry.ReasonRetryAfter},
		{"longer than the time left: give up", localRejection{2 * time.Second}, time.Second, nil, retry.ReasonDeadline},
		{"no RetryAfter: ends at once", localRejection{}, 0, nil, retry.ReasonRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				budget := retry.NewTokenBudget(10, 1)
				var rec delays
				r := retry.New(retry.Config{
					WaitOnRejection: true, Jitter: retry.JitterNone, RetryAfterJitter: resilience.None,
					Budget: budget, OnRetry: rec.onRetry,
				})
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				op, calls := failing(1, tt.err)
				start := time.Now()
				err := r.Do(ctx, op)
				assert.Equal(t, tt.wantDelays, rec.got)
				assert.InDelta(t, 10, budget.Tokens(), 1e-9, "a local rejection is not a failure of the dependency")
				if tt.wantReason == 0 {
					require.NoError(t, err)
					assert.Equal(t, tt.wantDelays[0], time.Since(start))
					return
				}
				var ex *retry.ExhaustedError
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, tt.wantReason, ex.Reason)
				assert.ErrorIs(t, err, errRefused)
				assert.EqualValues(t, 1, calls.Load())
				assert.Zero(t, time.Since(start), "no sleep")
			})
		})
	}
}

// TestServerAnswerHonoured: an error whose LocalRejection says false, or
// that has no such method, is the dependency's answer: its Retry-After is
// waited for and its failure counted.
func TestServerAnswerHonoured(t *testing.T) {
	t.Parallel()
	for name, err := range map[string]error{
		"LocalRejection false": notLocal{localRejection{2 * time.Second}},
		"StatusError":          &resilience.StatusError{Code: 503, Wait: 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				budget := retry.NewTokenBudget(10, 0.5)
				var rec delays
				r := retry.New(retry.Config{Jitter: retry.JitterNone, RetryAfterJitter: resilience.None, Budget: budget, OnRetry: rec.onRetry})
				op, calls := failing(1, err)
				require.NoError(t, r.Do(t.Context(), op))
				assert.Equal(t, ms(2000), rec.got)
				assert.EqualValues(t, 2, calls.Load())
				assert.InDelta(t, 9.5, budget.Tokens(), 1e-9, "one failure (-1), one success (+0.5)")
			})
		})
	}
}

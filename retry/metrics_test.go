package retry_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// refusingBudget refuses every retry.
type refusingBudget struct{}

func (refusingBudget) Request()       {}
func (refusingBudget) Success()       {}
func (refusingBudget) Failure()       {}
func (refusingBudget) Withdraw() bool { return false }

func TestMetrics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := retry.New(retry.Config{Name: "payments"})
		assert.Equal(t, "payments", r.Name())
		assert.Equal(t, retry.Metrics{}, r.Metrics())

		require.NoError(t, r.Do(ctx, func(context.Context) error { return nil }))
		assert.Equal(t, retry.Metrics{}, r.Metrics(), "a first-try success counts nothing")

		op, _ := failing(2, errTransient)
		require.NoError(t, r.Do(ctx, op)) // 2 retries, then success
		op, _ = failing(10, errTransient)
		require.ErrorIs(t, r.Do(ctx, op), retry.ErrExhausted) // 3 retries, gives up
		rejected := func(context.Context) error { return localRejection{} }
		require.ErrorIs(t, r.Do(ctx, rejected), errRefused) // no retry, rejected
		require.ErrorIs(t, r.Do(ctx, func(context.Context) error { return resilience.Permanent(errTransient) }), errTransient)

		var want retry.Metrics
		want.Retries = 5
		want.GaveUp[retry.ReasonMaxRetries] = 1
		want.GaveUp[retry.ReasonRejected] = 1
		want.LocalRejections = 1
		assert.Equal(t, want, r.Metrics())

		b := retry.New(retry.Config{Budget: refusingBudget{}})
		op, _ = failing(1, errTransient)
		require.ErrorIs(t, b.Do(ctx, op), retry.ErrExhausted)
		want = retry.Metrics{}
		want.GaveUp[retry.ReasonBudget] = 1
		assert.Equal(t, want, b.Metrics(), "a budget refusal is a call given up with ReasonBudget")
	})
}

func TestMetricsWaitOnRejection(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := retry.New(retry.Config{WaitOnRejection: true})
		op, _ := failing(1, localRejection{wait: time.Second})
		require.NoError(t, r.Do(t.Context(), op))
		m := r.Metrics()
		assert.EqualValues(t, 1, m.LocalRejections, "a local rejection waited for counts too")
		assert.EqualValues(t, 1, m.Retries)
		assert.Zero(t, m.GaveUp[retry.ReasonRejected])
	})
}

type ctxKey struct{}

func TestOnRetryGetsTheCallersContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got []any
		r := retry.New(retry.Config{OnRetry: func(ctx context.Context, _ int, _ error, _ time.Duration) {
			got = append(got, ctx.Value(ctxKey{}))
		}})
		op, _ := failing(2, errTransient)
		ctx := context.WithValue(t.Context(), ctxKey{}, "trace-1")
		require.NoError(t, r.Do(ctx, op))
		assert.Equal(t, []any{"trace-1", "trace-1"}, got)
	})
}

// A Retry's metrics cost nothing on the success path.
func TestMetricsSuccessPathAllocatesNothing(t *testing.T) {
	r := retry.New(retry.Config{})
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.Do(ctx, op) }))
}

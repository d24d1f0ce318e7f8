package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/resiliencekit/resilience/retry"
)

var errBenchTransient = errors.New("transient")

// BenchmarkRetry compares retry with backoff/v4's Retry and failsafe-go's
// retry policy.
//
//   - first-try: the operation succeeds at once (the hot path). backoff/v4
//     needs a fresh ExponentialBackOff per call, since one is stateful and
//     not safe for concurrent use; first-try-reused-backoff shows it with
//     one backoff reused (fine in this single goroutine only).
//   - 3-failures: the operation fails three times, then succeeds, with
//     1 ns delays and no jitter: the cost of the retry machinery itself.
func BenchmarkRetry(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	okPlain := func() error { return nil }

	b.Run("first-try/resilience", func(b *testing.B) {
		r := retry.New(retry.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-try/backoff-v4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := backoff.Retry(okPlain, backoff.NewExponentialBackOff()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-try/failsafe-go", func(b *testing.B) {
		exec := failsafe.With[any](retrypolicy.NewWithDefaults[any]())
		b.ReportAllocs()
		for b.Loop() {
			if err := exec.Run(okPlain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-try-reused-backoff/resilience", func(b *testing.B) {
		r := retry.New(retry.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-try-reused-backoff/backoff-v4", func(b *testing.B) {
		bo := backoff.NewExponentialBackOff()
		b.ReportAllocs()
		for b.Loop() {
			if err := backoff.Retry(okPlain, bo); err != nil {
				b.Fatal(err)
			}
		}
	})

	// 3-failures: each op fails three times, then succeeds.
	var calls int
	failThrice := func() error {
		calls++
		if calls%4 != 0 {
			return errBenchTransient
		}
		return nil
	}
	failThriceCtx := func(context.Context) error { return failThrice() }

	b.Run("3-failures/resilience", func(b *testing.B) {
		r := retry.New(retry.Config{MaxRetries: 3, InitialDelay: time.Nanosecond, Multiplier: 1, Jitter: retry.JitterNone})
		calls = 0
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, failThriceCtx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("3-failures/backoff-v4", func(b *testing.B) {
		calls = 0
		b.ReportAllocs()
		for b.Loop() {
			bo := backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(time.Nanosecond),
				backoff.WithRandomizationFactor(0),
				backoff.WithMultiplier(1))
			if err := backoff.Retry(failThrice, backoff.WithMaxRetries(bo, 3)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("3-failures/failsafe-go", func(b *testing.B) {
		exec := failsafe.With[any](retrypolicy.NewBuilder[any]().
			WithMaxRetries(3).WithDelay(time.Nanosecond).Build())
		calls = 0
		b.ReportAllocs()
		for b.Loop() {
			if err := exec.Run(failThrice); err != nil {
				b.Fatal(err)
			}
		}
	})
}

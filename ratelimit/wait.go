package ratelimit

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// sleepCtx waits d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// durationOf returns how long limit takes to produce tokens (0 for none,
// 0 for an infinite or zero rate: no useful hint).
func durationOfTokens(limit rate.Limit, tokens float64) time.Duration {
	if tokens <= 0 || limit <= 0 || limit == rate.Inf || math.IsNaN(tokens) {
		return 0
	}
	return durationOf(tokens / float64(limit))
}

// satAdd adds non-negative durations, saturating at math.MaxInt64.
func satAdd(a, b time.Duration) time.Duration {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

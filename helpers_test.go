package resilience_test

import (
	"context"
	"time"

	"github.com/resiliencekit/resilience"
)

// retryN is a minimal retry policy for tests of the root package: up to n
// attempts, no retry of permanent errors or after ctx ends, a pause between
// attempts that honours ctx.
func retryN(n int, pause time.Duration) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for i := 0; i < n; i++ {
			if i > 0 {
				t := time.NewTimer(pause)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			if err = op(ctx); err == nil || resilience.IsPermanent(err) {
				return err
			}
		}
		return err
	})
}

// record is a policy that appends its name before and after op.
func record(name string, log *[]string) resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		*log = append(*log, name+">")
		err := op(ctx)
		*log = append(*log, "<"+name)
		return err
	})
}

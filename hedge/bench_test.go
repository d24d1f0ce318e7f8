package hedge_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// The success path: the first attempt answers before the delay, so no
// hedge starts. Run with -benchmem; compare with failsafe-go's hedgepolicy
// in the same run (see the report of issue 14).
func BenchmarkSuccess(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	for _, bc := range []struct {
		name string
		h    *hedge.Hedge
	}{
		{"fixed", hedge.New(hedge.Config{Delay: time.Second})},
		{"adaptive", hedge.New(hedge.Config{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.h.Do(ctx, ok)
			}
		})
		b.Run(bc.name+"/Do[T]", func(b *testing.B) {
			b.ReportAllocs()
			op := func(context.Context) (int, error) { return 1, nil }
			for b.Loop() {
				_, _ = resilience.Do(ctx, bc.h, op)
			}
		})
	}
	b.Run("no hedge", func(b *testing.B) {
		h := hedge.New(hedge.Config{MaxHedges: resilience.None})
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Do(ctx, ok)
		}
	})
}

// A call that is hedged: the first attempt waits for its context, the
// hedge (after 1 µs) answers, the first is cancelled and waited for.
func BenchmarkHedged(b *testing.B) {
	ctx := context.Background()
	h := hedge.New(hedge.Config{Delay: time.Microsecond})
	op := func(ctx context.Context) (int, error) {
		if ctx.Value(firstKey{}).(*atomic.Int32).Add(1) == 1 {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return 1, nil
	}
	b.ReportAllocs()
	for b.Loop() {
		var n atomic.Int32
		_, _ = resilience.Do(context.WithValue(ctx, firstKey{}, &n), h, op)
	}
}

type firstKey struct{}

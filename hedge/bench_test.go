package hedge_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// The success path: the first attempt answers before the delay, so no
// hedge starts. Run with -benchmem; the figures are in the package's
// README of the issue notes, not asserted here.
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
	b.Run("not repeatable", func(b *testing.B) {
		h := hedge.New(hedge.Config{MaxHedges: resilience.None})
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Do(ctx, ok)
		}
	})
}

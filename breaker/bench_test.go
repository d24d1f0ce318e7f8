package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

func benchModes() []struct {
	name string
	cfg  breaker.Config
} {
	return []struct {
		name string
		cfg  breaker.Config
	}{
		{"consecutive", breaker.Config{}},
		{"count", breaker.Config{WindowCalls: 100}},
		{"time", breaker.Config{WindowDuration: 10 * time.Second}},
		{"slow", breaker.Config{WindowCalls: 100, SlowCall: time.Second}},
	}
}

func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for _, m := range benchModes() {
		b.Run(m.name, func(b *testing.B) {
			br := breaker.New(m.cfg)
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Do(ctx, op)
			}
		})
		b.Run(m.name+"/parallel", func(b *testing.B) {
			br := breaker.New(m.cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Do(ctx, op)
				}
			})
		})
	}
}

// BenchmarkGroupDo is Do through a Group, one key: the lookup, and the
// count of calls in flight that keeps a busy breaker from being dropped.
func BenchmarkGroupDo(b *testing.B) {
	ctx := resilience.WithKey(context.Background(), "api.example.com")
	op := func(context.Context) error { return nil }
	b.Run("serial", func(b *testing.B) {
		g := breaker.NewGroup(breaker.GroupConfig{})
		b.ReportAllocs()
		for b.Loop() {
			_ = g.Do(ctx, op)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		g := breaker.NewGroup(breaker.GroupConfig{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = g.Do(ctx, op)
			}
		})
	})
}

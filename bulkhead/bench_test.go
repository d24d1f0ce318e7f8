package bulkhead_test

import (
	"context"
	"testing"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

// BenchmarkGroupDo is Do through a Group, one key, beside the same
// bulkhead without a Group.
func BenchmarkGroupDo(b *testing.B) {
	ctx := resilience.WithKey(context.Background(), "api.example.com")
	for name, p := range map[string]func() resilience.Policy{
		"group":    func() resilience.Policy { return bulkhead.NewGroup(64, bulkhead.GroupConfig{}) },
		"bulkhead": func() resilience.Policy { return bulkhead.New(64, bulkhead.Config{}) },
	} {
		b.Run(name+"/serial", func(b *testing.B) {
			p := p()
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Do(ctx, noop)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			p := p()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = p.Do(ctx, noop)
				}
			})
		})
	}
}

package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/cache"
)

func TestHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, which allocates")
	}
	for _, tt := range []struct {
		name string
		obs  resilience.Observer
	}{
		{"no Observer", nil},
		{"a no-op Observer", resilience.ObserverFunc(func(context.Context, resilience.Event) {})},
	} {
		c := cache.New(noLoad, cache.Config{NegativeTTL: time.Hour, Name: "hot", Observer: tt.obs})
		c.Set("k", 1)
		ctx := context.Background()
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, "k") }), "Get, %s", tt.name)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = c.GetEntry(ctx, "k") }), "GetEntry, %s", tt.name)
		c.Close()
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := cache.New(noLoad, cache.Config{})
	defer c.Close()
	c.Set("k", 1)
	ctx := context.Background()
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			_, _ = c.Get(ctx, "k")
		}
	})
	b.Run("GetEntry", func(b *testing.B) {
		for b.Loop() {
			_, _ = c.GetEntry(ctx, "k")
		}
	})
	b.Run("Get/no-op Observer", func(b *testing.B) {
		c := cache.New(noLoad, cache.Config{Observer: resilience.ObserverFunc(func(context.Context, resilience.Event) {})})
		defer c.Close()
		c.Set("k", 1)
		for b.Loop() {
			_, _ = c.Get(ctx, "k")
		}
	})
	b.Run("Get/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = c.Get(ctx, "k")
			}
		})
	})
}

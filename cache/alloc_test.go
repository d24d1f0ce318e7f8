package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience/cache"
)

func TestHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, which allocates")
	}
	c := cache.New(noLoad, cache.Config{NegativeTTL: time.Hour})
	defer c.Close()
	c.Set("k", 1)
	ctx := context.Background()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, "k") }), "Get")
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = c.GetEntry(ctx, "k") }), "GetEntry")
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
	b.Run("Get/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = c.Get(ctx, "k")
			}
		})
	})
}

//go:build !race

package ratelimit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

// The success paths allocate nothing. (The race detector changes
// allocation counts, so this runs only without it.)
func TestSuccessPathAllocatesNothing(t *testing.T) {
	ctx := resilience.WithKey(context.Background(), "key-1")
	l := ratelimit.New(rate.Inf, 1, ratelimit.Config{})
	k := ratelimit.NewGroup(1e9, 1<<30, ratelimit.GroupConfig{})
	a := ratelimit.NewThrottle(ratelimit.ThrottleConfig{})
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
		k.Allow(keys[i])
	}
	finite := ratelimit.New(1e9, 1<<30, ratelimit.Config{})
	costly := ratelimit.New(1e9, 1<<30, ratelimit.Config{Cost: func(context.Context) int { return 2 }})
	tiers := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
		QuotaFor: func(string) (ratelimit.Quota, bool) {
			return ratelimit.Quota{Rate: 1e9, Burst: 1 << 30, Name: "pro"}, true
		},
	})
	inf := ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{})
	inf.Pause("another-host", time.Hour) // the rate.Inf path then looks for pauses
	zero := ratelimit.NewGroup(0, 1<<30, ratelimit.GroupConfig{})
	key128 := strings.Repeat("k", 128) // the longest key held as it is
	k.Allow(key128)
	i := 0
	tests := map[string]func(){
		"Limiter.Do":         func() { _ = l.Do(ctx, nop) },
		"Limiter.Allow":      func() { finite.Allow() },
		"Limiter.Do finite":  func() { _ = finite.Do(ctx, nop) },
		"Limiter.Take":       func() { _, _ = finite.Take(ctx, "", 1) },
		"Group.Do":           func() { _ = k.Do(ctx, nop) },
		"Group.Allow":        func() { i++; k.Allow(keys[i%len(keys)]) },
		"Group.Take":         func() { _, _ = k.Take(ctx, "key-2", 1) },
		"Throttle.Do":        func() { _ = a.Do(ctx, nop) },
		"Limiter.Do cost":    func() { _ = costly.Do(ctx, nop) },
		"Group.Do tier":      func() { _ = tiers.Do(ctx, nop) },
		"Group.Do rate.Inf":  func() { _ = inf.Do(ctx, nop) },
		"Group.Allow rate 0": func() { zero.Allow("key-1") },
		"Group.Metrics":      func() { _, _ = k.Metrics("key-3") },
		"Group.Allow 128 B":  func() { k.Allow(key128) },
	}
	for name, f := range tests {
		assert.Zero(t, testing.AllocsPerRun(1000, f), name)
	}
}

//go:build !race

package ratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
)

// observers are the Observers the allocation tests run with: none, and
// one that does nothing.
func observers() map[string]resilience.Observer {
	return map[string]resilience.Observer{
		"no observer":    nil,
		"no-op observer": resilience.ObserverFunc(func(context.Context, resilience.Event) {}),
	}
}

// The success paths allocate nothing, with no Observer or with one. (The
// race detector changes allocation counts, so this runs only without it.)
func TestSuccessPathAllocatesNothing(t *testing.T) {
	for name, o := range observers() {
		t.Run(name, func(t *testing.T) { successPathAllocatesNothing(t, o) })
	}
}

func successPathAllocatesNothing(t *testing.T, o resilience.Observer) {
	ctx := resilience.WithKey(context.Background(), "key-1")
	c := ratelimit.Config{Observer: o}
	gc := ratelimit.GroupConfig{Config: c}
	l := ratelimit.New(rate.Inf, 1, c)
	k := ratelimit.NewGroup(1e9, 1<<30, gc)
	a := ratelimit.NewThrottle(ratelimit.ThrottleConfig{Observer: o})
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
		k.Allow(keys[i])
	}
	finite := ratelimit.New(1e9, 1<<30, c)
	costly := ratelimit.New(1e9, 1<<30, ratelimit.Config{Cost: func(context.Context) int { return 2 }, Observer: o})
	tiers := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
		Config: c,
		QuotaFor: func(string) (ratelimit.Quota, bool) {
			return ratelimit.Quota{Rate: 1e9, Burst: 1 << 30, Name: "pro"}, true
		},
	})
	inf := ratelimit.NewGroup(rate.Inf, 1, gc)
	inf.Pause("another-host", time.Hour) // the rate.Inf path then looks for pauses
	zero := ratelimit.NewGroup(0, 1<<30, gc)
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

// Refusals allocate nothing either, under a storm of them: the limiters
// hand out their last refusal again while it says the same (see
// LimitedError). Serial, with testing.AllocsPerRun; a storm from several
// goroutines is in TestRefusalStormAllocations. With an Observer too:
// the events are passed by value.
func TestRefusalsAllocateNothing(t *testing.T) {
	for oname, o := range observers() {
		for name, refuse := range refusers(t, o) {
			require.Error(t, refuse(), name)
			assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = refuse() }), "%s, %s", name, oname)
		}
	}
}

// TestRefusalStormAllocations refuses from 8 goroutines at once and
// reports the allocations per refusal (the real average, less what the
// goroutines themselves cost). It is not parallel, so that no other test
// allocates meanwhile.
func TestRefusalStormAllocations(t *testing.T) {
	const goroutines, calls = 8, 20000
	storm := func(f func() error) uint64 {
		var before, after runtime.MemStats
		var wg sync.WaitGroup
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range goroutines {
			wg.Go(func() {
				for range calls {
					_ = f()
				}
			})
		}
		wg.Wait()
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	base := storm(func() error { return nil })
	for name, refuse := range refusers(t, nil) {
		avg := (float64(storm(refuse)) - float64(base)) / (goroutines * calls)
		t.Logf("%-26s %.6f allocs per refusal", name, max(avg, 0))
		assert.Less(t, avg, 0.001, name)
	}

	// Refusals of many keys in turn share nothing (each shard keeps the
	// last one only), and cost what they did when each was made anew:
	// one allocation.
	k := ratelimit.NewGroup(1e-3, 1, ratelimit.GroupConfig{})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("client-", i)
		k.Allow(keys[i])
	}
	var i atomic.Int64
	avg := (float64(storm(func() error {
		return k.Wait(context.Background(), keys[i.Add(1)%int64(len(keys))])
	})) - float64(base)) / (goroutines * calls)
	t.Logf("%-26s %.6f allocs per refusal", "Group, 1000 keys in turn", avg)
	assert.LessOrEqual(t, avg, 1.0)
}

// refusers returns calls that are refused, one per kind of refusal, by
// limiters with the Observer o (nil: none).
func refusers(t *testing.T, o resilience.Observer) map[string]func() error {
	ctx := context.Background()
	const slow = 1e-3 // a token every 1000 s: none comes during a test
	empty := ratelimit.New(slow, 1, ratelimit.Config{OnLimited: func(context.Context, *ratelimit.LimitedError) {}, Observer: o})
	empty.Allow()
	waits := ratelimit.New(slow, 1, ratelimit.Config{MaxWait: time.Millisecond, Observer: o})
	waits.Allow()
	paused := ratelimit.New(rate.Inf, 1, ratelimit.Config{Observer: o})
	paused.Pause(time.Hour)
	costly := ratelimit.New(slow, 1, ratelimit.Config{Cost: func(context.Context) int { return 2 }, Observer: o})
	k := ratelimit.NewGroup(slow, 1, ratelimit.GroupConfig{Config: ratelimit.Config{OnLimited: func(context.Context, *ratelimit.LimitedError) {}, Observer: o}})
	keyed := resilience.WithKey(ctx, "client-1")
	k.Allow("client-1")
	infPaused := ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Observer: o}})
	infPaused.Pause("client-1", time.Hour)
	zero := ratelimit.NewGroup(0, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Observer: o}})
	zero.Allow("client-1")
	overloaded := &resilience.StatusError{Code: 503}
	th := ratelimit.NewThrottle(ratelimit.ThrottleConfig{K: 1, Observer: o})
	for range 1000 {
		_ = th.Do(ctx, func(context.Context) error { return overloaded })
	}
	overload := func(context.Context) error { return overloaded }
	return map[string]func() error{
		"Limiter.Do":                func() error { return empty.Do(ctx, nop) },
		"Limiter.Take":              func() error { return refusedTake(empty.Take(ctx, "", 1)) },
		"Limiter.Do, wait too long": func() error { return waits.Do(ctx, nop) },
		"Limiter.Do, paused":        func() error { return paused.Do(ctx, nop) },
		"Limiter.Do, too costly":    func() error { return costly.Do(ctx, nop) },
		"Group.Do":                  func() error { return k.Do(keyed, nop) },
		"Group.Take":                func() error { return refusedTake(k.Take(ctx, "client-1", 1)) },
		"Group.Do, rate.Inf paused": func() error { return infPaused.Do(keyed, nop) },
		"Group.Do, rate 0":          func() error { return zero.Do(keyed, nop) },
		"Throttle.Do":               func() error { return th.Do(ctx, overload) }, // dropped, or op's own error
	}
}

// refusedTake turns what Take returned into an error: a refusal or not.
func refusedTake(d ratelimit.Decision, err error) error {
	if err == nil && d.Allowed {
		return nil
	}
	if err == nil {
		return ratelimit.ErrLimited
	}
	return err
}

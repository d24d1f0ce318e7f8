//go:build !race

package bulkhead_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

// The success path allocates nothing, and neither does refusing a call on
// arrival: the error of a fixed limit is made once (it is immutable), as is
// a Group's TooManyKeys; with no Observer or with one, as events are
// passed by value. The race detector makes sync.Pool drop items at
// random, so this check runs only in builds without it.
func TestAllocations(t *testing.T) {
	for name, o := range map[string]resilience.Observer{
		"no observer":    nil,
		"no-op observer": resilience.ObserverFunc(func(context.Context, resilience.Event) {}),
	} {
		t.Run(name, func(t *testing.T) { allocations(t, o) })
	}
}

func allocations(t *testing.T, o resilience.Observer) {
	ctx := context.Background()
	fixed := bulkhead.New(4, bulkhead.Config{Observer: o})
	adaptive := bulkhead.New(4, bulkhead.Config{Adaptive: bulkhead.AIMD{}, Observer: o})
	waiting := bulkhead.New(4, bulkhead.Config{MaxWait: resilience.Forever, Observer: o})
	group := bulkhead.NewGroup(4, bulkhead.GroupConfig{Config: bulkhead.Config{Observer: o}})
	keyed := resilience.WithKey(ctx, "k")
	for name, do := range map[string]func(){
		"fixed":    func() { _ = fixed.Do(ctx, noop) },
		"adaptive": func() { _ = adaptive.Do(ctx, noop) },
		"waiting":  func() { _ = waiting.Do(ctx, noop) },
		"group":    func() { _ = group.Do(keyed, noop) },
	} {
		assert.Zero(t, testing.AllocsPerRun(1000, do), "success, %s", name)
	}

	full := bulkhead.New(1, bulkhead.Config{Observer: o})
	tooMany := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 1, Config: bulkhead.Config{Observer: o}})
	gate, held := make(chan struct{}), make(chan struct{}, 2)
	hold := func(p resilience.Policy, ctx context.Context) {
		go func() { _ = p.Do(ctx, func(context.Context) error { held <- struct{}{}; <-gate; return nil }) }()
	}
	hold(full, ctx)
	hold(tooMany, resilience.WithKey(ctx, "a"))
	<-held
	<-held
	defer close(gate)
	other := resilience.WithKey(ctx, "b")
	for name, do := range map[string]func() error{
		"on arrival":    func() error { return full.Do(ctx, noop) },
		"too many keys": func() error { return tooMany.Do(other, noop) },
	} {
		require.ErrorIs(t, do(), bulkhead.ErrFull)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = do() }), "rejection, %s", name)
	}
}

package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

var _ resilience.Policy = (*bulkhead.Group)(nil)

func key(ctx context.Context, k string) context.Context { return resilience.WithKey(ctx, k) }

func noop(context.Context) error { return nil }

func TestNewGroupPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int
		cfg  bulkhead.GroupConfig
		want string
	}{
		{"zero limit", 0, bulkhead.GroupConfig{}, "bulkhead: maxConcurrent 0 is less than 1"},
		{"negative keys", 1, bulkhead.GroupConfig{MaxKeys: -1}, "bulkhead: negative MaxKeys -1"},
		{"bad bulkhead config", 1, bulkhead.GroupConfig{Config: bulkhead.Config{MaxQueue: -2}},
			"bulkhead: negative MaxQueue -2"},
		{"bad algorithm", 2, bulkhead.GroupConfig{Config: bulkhead.Config{Adaptive: bulkhead.AIMD{Min: 3}}},
			"bulkhead: AIMD: Min 3 is above maxConcurrent 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.want, func() { bulkhead.NewGroup(tt.max, tt.cfg) })
		})
	}
}

func TestGroupPerKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{})
		release := occupy(g, key(t.Context(), "a"), 1)
		defer release()

		require.ErrorIs(t, g.Do(key(t.Context(), "a"), noop), bulkhead.ErrFull)
		require.NoError(t, g.Do(key(t.Context(), "b"), noop), "another key has its own permits")
		require.NoError(t, g.Do(t.Context(), noop), "no key: the bulkhead of \"\"")

		assert.Equal(t, 3, g.Len())
		m, ok := g.Metrics("a")
		assert.True(t, ok)
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Limit: 1, Rejected: 1}, m)
		assert.True(t, g.Saturated("a"))
		assert.False(t, g.Saturated("b"))
		_, ok = g.Metrics("zzz")
		assert.False(t, ok)
		assert.False(t, g.Saturated("zzz"))
	})
}

func TestGroupEvictsIdle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 2})
		release := occupy(g, key(t.Context(), "busy"), 1)
		defer release()
		require.NoError(t, g.Do(key(t.Context(), "idle"), noop))
		require.ErrorIs(t, g.Do(key(t.Context(), "idle"), func(context.Context) error {
			return g.Do(key(t.Context(), "idle"), noop) // nested: the key is busy
		}), bulkhead.ErrFull)
		m, _ := g.Metrics("idle")
		assert.Equal(t, uint64(1), m.Rejected)

		require.NoError(t, g.Do(key(t.Context(), "new"), noop))
		assert.Equal(t, 2, g.Len())
		_, ok := g.Metrics("idle")
		assert.False(t, ok, "the idle key made room")
		_, ok = g.Metrics("busy")
		assert.True(t, ok, "a busy key is kept")

		require.NoError(t, g.Do(key(t.Context(), "idle"), noop))
		m, ok = g.Metrics("idle")
		require.True(t, ok)
		assert.Equal(t, bulkhead.Metrics{Limit: 1}, m, "a key that comes back starts afresh")
	})
}

func TestGroupAllBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var hooked []error
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 2, Config: bulkhead.Config{
			OnReject: func(_ context.Context, err *bulkhead.FullError) { hooked = append(hooked, err) },
		}})
		ra := occupy(g, key(t.Context(), "a"), 1)
		rb := occupy(g, key(t.Context(), "b"), 1)
		err := g.Do(key(t.Context(), "c"), func(context.Context) error {
			t.Error("op ran")
			return nil
		})
		require.ErrorIs(t, err, bulkhead.ErrFull)
		var fe *bulkhead.FullError
		require.ErrorAs(t, err, &fe)
		assert.True(t, fe.TooManyKeys())
		assert.Equal(t, "bulkhead: full: too many busy keys", err.Error())
		assert.Equal(t, []error{err}, hooked)
		assert.Equal(t, 2, g.Len())

		ra()
		require.NoError(t, g.Do(key(t.Context(), "c"), noop), "a key freed room")
		rb()
	})
}

func TestGroupAdaptivePerKey(t *testing.T) {
	t.Parallel()
	var made atomic.Int64
	algo := algoFunc(func(maxConcurrent int) bulkhead.Limit {
		made.Add(1)
		return &fakeLimit{value: maxConcurrent}
	})
	g := bulkhead.NewGroup(3, bulkhead.GroupConfig{Config: bulkhead.Config{Adaptive: algo}})
	assert.EqualValues(t, 1, made.Load(), "checked at construction")
	for _, k := range []string{"a", "b", "a"} {
		require.NoError(t, g.Do(key(t.Context(), k), noop))
	}
	assert.EqualValues(t, 3, made.Load(), "one limit per key")
}

type algoFunc func(int) bulkhead.Limit

func (f algoFunc) NewLimit(n int) bulkhead.Limit { return f(n) }

// TestGroupHammer churns more keys than the group keeps through it from
// many goroutines: bulkheads are evicted and made again while calls race
// for them, and still no key may have more calls in flight than its limit.
func TestGroupHammer(t *testing.T) {
	t.Parallel()
	const limit, keys, workers, calls = 2, 6, 12, 300
	g := bulkhead.NewGroup(limit, bulkhead.GroupConfig{MaxKeys: 3})
	var cur [keys]atomic.Int64
	var peak, ok, full atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				k := (w + i) % keys
				err := g.Do(key(t.Context(), fmt.Sprint(k)), func(context.Context) error {
					n := cur[k].Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					cur[k].Add(-1)
					return nil
				})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, bulkhead.ErrFull):
					full.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(limit))
	assert.Equal(t, int64(workers*calls), ok.Load()+full.Load())
	assert.LessOrEqual(t, g.Len(), 3)
	t.Logf("ok %d full %d peak %d", ok.Load(), full.Load(), peak.Load())
}

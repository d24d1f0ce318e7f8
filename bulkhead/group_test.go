package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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
		assert.True(t, g.Get("a").Saturated())
		assert.False(t, g.Get("b").Saturated())
		_, ok = g.Metrics("zzz")
		assert.False(t, ok)
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

// ConfigFor gives a key a Config of its own; false means Config.
func TestGroupConfigFor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var asked []string
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{
			Config: bulkhead.Config{Name: "hosts"},
			ConfigFor: func(key string) (bulkhead.Config, bool) {
				asked = append(asked, key)
				if key == "patient" {
					return bulkhead.Config{MaxWait: time.Second}, true
				}
				return bulkhead.Config{MaxWait: time.Hour}, false
			},
		})
		for _, k := range []string{"patient", "strict"} {
			release := occupy(g, key(t.Context(), k), 1)
			start := time.Now()
			err := g.Do(key(t.Context(), k), noop)
			require.ErrorIs(t, err, bulkhead.ErrFull, k)
			waited := time.Since(start)
			release()
			if k == "patient" {
				assert.Equal(t, time.Second, waited, "its own MaxWait")
			} else {
				assert.Zero(t, waited, "false: the group's Config, which never waits")
			}
		}
		assert.Equal(t, []string{"patient", "strict"}, asked, "asked once per key")
		assert.Equal(t, "hosts", g.Get("patient").Name(), "the group's name")
	})
}

// GroupConfig.Key picks the key of a call; nil means resilience.KeyFrom.
func TestGroupKeyFunc(t *testing.T) {
	t.Parallel()
	type tenant struct{}
	g := bulkhead.NewGroup(1, bulkhead.GroupConfig{
		Key: func(ctx context.Context) string { s, _ := ctx.Value(tenant{}).(string); return s },
	})
	require.NoError(t, g.Do(context.WithValue(key(t.Context(), "host"), tenant{}, "acme"), noop))
	_, ok := g.Metrics("acme")
	assert.True(t, ok)
	_, ok = g.Metrics("host")
	assert.False(t, ok)
}

// Get makes the key's bulkhead, Metrics and Range only look.
func TestGroupGetRange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(2, bulkhead.GroupConfig{})
		b := g.Get("a")
		require.Same(t, b, g.Get("a"))
		require.Equal(t, 1, g.Len())
		release := occupy(g, key(t.Context(), "a"), 1)
		defer release()
		require.NoError(t, g.Do(key(t.Context(), "b"), noop))
		assert.Equal(t, 1, b.Metrics().InFlight, "Do used the bulkhead Get returned")
		got := map[string]bulkhead.Metrics{}
		g.Range(func(k string, m bulkhead.Metrics) bool { got[k] = m; return true })
		assert.Equal(t, map[string]bulkhead.Metrics{"a": {InFlight: 1, Limit: 2}, "b": {Limit: 2}}, got)
		n := 0
		g.Range(func(string, bulkhead.Metrics) bool { n++; return false })
		assert.Equal(t, 1, n, "Range stops when f returns false")
	})
}

// A bulkhead got with Get and then dropped by the group keeps working,
// apart from the group.
func TestGroupGetAfterEviction(t *testing.T) {
	t.Parallel()
	g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 1})
	b := g.Get("a")
	require.NoError(t, g.Do(key(t.Context(), "b"), noop), "b takes the place of idle a")
	_, ok := g.Metrics("a")
	require.False(t, ok)
	require.NoError(t, b.Do(t.Context(), noop), "the dropped bulkhead revives")
	assert.Equal(t, bulkhead.Metrics{Limit: 1}, b.Metrics())
	assert.False(t, b.Saturated())
}

// Bulkheads unused for IdleTimeout are dropped when a new key arrives,
// busy ones never; resilience.Forever drops none by idleness.
func TestGroupIdleTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{IdleTimeout: time.Minute})
		require.NoError(t, g.Do(key(t.Context(), "idle"), noop))
		release := occupy(g, key(t.Context(), "busy"), 1)
		require.NoError(t, g.Do(key(t.Context(), "used"), noop))
		for i := range 3 {
			time.Sleep(2 * time.Minute) // the sweeps run once per IdleTimeout at most
			require.NoError(t, g.Do(key(t.Context(), "used"), noop))
			_ = g.Get(fmt.Sprint("new", i)) // new keys drive the sweeps
		}
		for k, want := range map[string]bool{"idle": false, "busy": true, "used": true} {
			_, ok := g.Metrics(k)
			assert.Equal(t, want, ok, k)
		}
		release()
		time.Sleep(3 * time.Minute)
		_ = g.Get("last")
		_, ok := g.Metrics("busy")
		assert.False(t, ok, "idle once its call returned")

		forever := bulkhead.NewGroup(1, bulkhead.GroupConfig{IdleTimeout: resilience.Forever})
		require.NoError(t, forever.Do(key(t.Context(), "old"), noop))
		time.Sleep(24 * time.Hour)
		_ = forever.Get("new")
		assert.Equal(t, 2, forever.Len(), "nothing dropped by idleness")
	})
}

func TestGroupDefaultIdleTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{})
		_ = g.Get("a")
		time.Sleep(bulkhead.DefaultIdleTimeout)
		_ = g.Get("b") // the first sweep finds "a" used since the group was made
		time.Sleep(bulkhead.DefaultIdleTimeout - time.Second)
		_ = g.Get("c") // too soon for the next sweep
		_, ok := g.Metrics("a")
		assert.True(t, ok)
		time.Sleep(time.Second)
		_ = g.Get("d")
		_, ok = g.Metrics("a")
		assert.False(t, ok, "unused since the last sweep, DefaultIdleTimeout ago")
		assert.Equal(t, 10*time.Minute, bulkhead.DefaultIdleTimeout, "breaker.DefaultIdleTimeout")
	})
}

// A key longer than 128 bytes is held as its SHA-256.
func TestGroupLongKeysHashed(t *testing.T) {
	t.Parallel()
	var asked []int
	g := bulkhead.NewGroup(1, bulkhead.GroupConfig{ConfigFor: func(key string) (bulkhead.Config, bool) {
		asked = append(asked, len(key))
		return bulkhead.Config{}, false
	}})
	long := strings.Repeat("k", 10<<10)
	require.NoError(t, g.Do(key(t.Context(), long), noop))
	assert.Equal(t, []int{10 << 10}, asked, "ConfigFor gets the caller's key")
	_, ok := g.Metrics(long)
	require.True(t, ok)
	require.Equal(t, 1, g.Len())
	_ = g.Get(long)
	require.Equal(t, 1, g.Len(), "Get finds the same bulkhead")
	g.Range(func(k string, _ bulkhead.Metrics) bool {
		assert.True(t, strings.HasPrefix(k, "sha256:"), k)
		assert.Len(t, k, len("sha256:")+64)
		return true
	})
	_, ok = g.Metrics(long + "x")
	assert.False(t, ok, "another long key, another hash")
}

// 20,000 distinct keys of 10 KB under MaxKeys 10,000: the group holds at
// most 10,000 keys of at most 128 bytes, and takes about what it takes
// with short keys, far below 20,000 × 10 KB (195 MiB).
func TestGroupMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 200 MB of keys")
	}
	heap := func(keyLen int) uint64 {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 10000})
		buf := []byte(strings.Repeat("x", keyLen))
		for i := range 20000 {
			copy(buf, fmt.Sprintf("%08d", i))
			_ = g.Do(key(context.Background(), string(buf)), noop) // a fresh string each time
		}
		require.LessOrEqual(t, g.Len(), 10000)
		n := 0
		g.Range(func(k string, _ bulkhead.Metrics) bool {
			n++
			if len(k) > 128 {
				t.Errorf("key of %d bytes held", len(k))
				return false
			}
			return true
		})
		require.Equal(t, g.Len(), n)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		runtime.KeepAlive(g)
		t.Logf("%d keys of %d bytes sent: heap in use %.1f MiB", n, keyLen, float64(ms.HeapInuse)/(1<<20))
		return ms.HeapInuse
	}
	short := heap(8)
	long := heap(10 << 10)
	assert.Less(t, long, short+8<<20, "10 KB keys cost at most 8 MiB more than 8-byte ones")
	assert.Less(t, long, uint64(30<<20))
}

// A refusal for TooManyKeys answers 503, as every bulkhead refusal.
func TestGroupTooManyKeysStatus(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 1})
		release := occupy(g, key(t.Context(), "a"), 1)
		defer release()
		err := g.Get("b")
		assert.Nil(t, err, "Get: nil when every bulkhead is busy")
		var hs interface{ HTTPStatus() int }
		require.ErrorAs(t, g.Do(key(t.Context(), "b"), noop), &hs)
		assert.Equal(t, http.StatusServiceUnavailable, hs.HTTPStatus())
	})
}

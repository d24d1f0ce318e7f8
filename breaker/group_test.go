package breaker_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/resiliencekit/resilience/breaker"
)

var _ resilience.Policy = (*breaker.Group)(nil)
var _ resilience.Policy = (*breaker.Breaker)(nil)

func keyed(key string) context.Context {
	return resilience.WithKey(context.Background(), key)
}

// Host A failing does not open host B.
func TestGroupIsolation(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 2}})
	for range 2 {
		require.ErrorIs(t, g.Do(keyed("a"), fail), errBoom)
	}
	require.ErrorIs(t, g.Do(keyed("a"), ok), breaker.ErrOpen)
	require.NoError(t, g.Do(keyed("b"), ok))
	require.Equal(t, breaker.Open, g.Get("a").State())
	require.Equal(t, breaker.Closed, g.Get("b").State())
	require.Equal(t, 2, g.Len())
}

// Calls without a key share the breaker of "".
func TestGroupEmptyKey(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 1}})
	_ = g.Do(context.Background(), fail)
	m, ok := g.Metrics("")
	require.True(t, ok)
	require.Equal(t, breaker.Open, m.State)
	require.ErrorIs(t, g.Do(keyed(""), func(context.Context) error { return nil }), breaker.ErrOpen)
	require.NoError(t, g.Do(keyed("x"), func(context.Context) error { return nil }))
}

// One http.Client, one breaker per host, behind resilience.Transport.
func TestGroupBehindTransport(t *testing.T) {
	t.Parallel()
	var sent sync.Map // host -> *atomic.Int32
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n, _ := sent.LoadOrStore(req.URL.Host, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		code := http.StatusOK
		if req.URL.Host == "down.test" {
			code = http.StatusServiceUnavailable
		}
		return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("x")), Request: req}, nil
	})
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 3, OpenDuration: time.Hour}})
	client := &http.Client{Transport: resilience.Transport(rt, g)}
	get := func(host string) (int, error) {
		resp, err := client.Get("http://" + host + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	for range 3 {
		code, err := get("down.test")
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, code)
	}
	_, err := get("down.test")
	require.ErrorIs(t, err, breaker.ErrOpen)
	for range 5 {
		code, err := get("up.test")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	n, _ := sent.Load("down.test")
	require.Equal(t, int32(3), n.(*atomic.Int32).Load(), "the open breaker kept the fourth request home")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestGroupMaxKeys(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 8})
	for i := range 100 {
		key := fmt.Sprint("k", i)
		require.NoError(t, g.Do(keyed(key), ok))
		require.LessOrEqual(t, g.Len(), 8)
		_, ok := g.Metrics(key)
		require.True(t, ok, "the newest key stays")
	}
	n := 0
	g.Range(func(string, breaker.Metrics) bool { n++; return true })
	require.Equal(t, g.Len(), n)
}

// Under pressure, the breakers unused for longest go first, and open ones
// last.
func TestGroupEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := breaker.NewGroup(breaker.GroupConfig{
			MaxKeys:     4,
			IdleTimeout: time.Hour,
			Config:      breaker.Config{ConsecutiveFailures: 1, OpenDuration: 24 * time.Hour},
		})
		_ = g.Do(keyed("open"), fail)
		for _, k := range []string{"a", "b", "c"} {
			_ = g.Do(keyed(k), ok)
		}
		time.Sleep(time.Minute)
		// Full: every key was used since the last sweep, so one of a, b, c
		// goes (never the open one).
		_ = g.Do(keyed("d"), ok)
		require.Equal(t, 4, g.Len())
		var left []string
		for _, k := range []string{"a", "b", "c"} {
			if _, ok := g.Metrics(k); ok {
				left = append(left, k)
			}
		}
		require.Len(t, left, 2)
		time.Sleep(time.Minute)
		_ = g.Do(keyed(left[0]), ok)
		time.Sleep(time.Minute)
		// Full again: left[1] is the only one unused since the last sweep.
		_ = g.Do(keyed("e"), ok)
		for k, want := range map[string]bool{"open": true, left[0]: true, left[1]: false, "d": true, "e": true} {
			_, ok := g.Metrics(k)
			assert.Equal(t, want, ok, k)
		}
	})
}

func TestGroupIdleEviction(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := breaker.NewGroup(breaker.GroupConfig{
			IdleTimeout: time.Minute,
			Config:      breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour},
		})
		_ = g.Do(keyed("idle"), ok)
		_ = g.Do(keyed("open"), fail)
		_ = g.Do(keyed("busy"), ok)
		for range 3 {
			time.Sleep(2 * time.Minute)
			_ = g.Do(keyed("busy"), ok)
			_ = g.Get(fmt.Sprint("new", time.Now().UnixNano())) // new keys drive the sweeps
		}
		_, okIdle := g.Metrics("idle")
		_, okOpen := g.Metrics("open")
		_, okBusy := g.Metrics("busy")
		assert.False(t, okIdle, "idle breaker evicted")
		assert.True(t, okOpen, "open breaker kept while open")
		assert.True(t, okBusy)

		// Once its open duration has passed, an idle open breaker goes too.
		time.Sleep(time.Hour)
		for range 2 {
			time.Sleep(2 * time.Minute)
			_ = g.Get(fmt.Sprint("new", time.Now().UnixNano()))
		}
		_, okOpen = g.Metrics("open")
		assert.False(t, okOpen)
		// An evicted key comes back closed.
		require.NoError(t, g.Do(keyed("open"), ok))
	})
}

func TestGroupConfigForAndOnStateChange(t *testing.T) {
	t.Parallel()
	type change struct {
		key      string
		from, to breaker.State
	}
	var mu sync.Mutex
	var changes []change
	var own atomic.Int32
	g := breaker.NewGroup(breaker.GroupConfig{
		ConfigFor: func(key string) (breaker.Config, bool) {
			n := 1
			if key == "tolerant" {
				n = 3
			}
			return breaker.Config{ConsecutiveFailures: n, OnStateChange: func(_ context.Context, _, _ breaker.State) { own.Add(1) }}, true
		},
		OnStateChange: func(_ context.Context, key string, from, to breaker.State) {
			mu.Lock()
			changes = append(changes, change{key, from, to})
			mu.Unlock()
		},
	})
	_ = g.Do(keyed("strict"), fail)
	_ = g.Do(keyed("tolerant"), fail)
	require.Equal(t, breaker.Open, g.Get("strict").State())
	require.Equal(t, breaker.Closed, g.Get("tolerant").State())
	require.Equal(t, []change{{"strict", breaker.Closed, breaker.Open}}, changes)
	require.Equal(t, int32(1), own.Load())
}

func TestGroupHealthCheckKeyAndClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		checked := map[string]int{}
		g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			HealthCheck: func(ctx context.Context) error {
				mu.Lock()
				checked[resilience.KeyFrom(ctx)]++
				mu.Unlock()
				return errBoom
			},
		}})
		_ = g.Do(keyed("a"), fail)
		_ = g.Do(keyed("b"), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, map[string]int{"a": 1, "b": 1}, checked)
		mu.Unlock()
		g.Close()
		g.Close()
		require.Zero(t, g.Len())
		// The group stays usable after Close, without health goroutines.
		_ = g.Do(keyed("c"), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.NoError(t, g.Do(keyed("c"), ok))
	})
}

func TestGroupPanics(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { breaker.NewGroup(breaker.GroupConfig{MaxKeys: -1}) })
	require.Panics(t, func() { breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{WindowCalls: -1}}) })
}

func TestGroupConcurrent(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 16, Config: breaker.Config{ConsecutiveFailures: 3, OpenDuration: time.Millisecond}})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprint((w*7 + i) % 40)
				op := ok
				if i%5 == 0 {
					op = fail
				}
				_ = g.Do(keyed(key), op)
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, g.Len(), 16)
}

func TestGroupMetrics(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{})
	_, ok := g.Metrics("a")
	assert.False(t, ok)
	assert.Zero(t, g.Len(), "Metrics makes no breaker")
	ctx := resilience.WithKey(t.Context(), "a")
	require.NoError(t, g.Do(ctx, func(context.Context) error { return nil }))
	m, ok := g.Metrics("a")
	assert.True(t, ok)
	assert.Equal(t, uint64(1), m.Calls)
}

// ConfigFor returning false means GroupConfig.Config.
func TestGroupConfigForFalse(t *testing.T) {
	t.Parallel()
	var asked []string
	g := breaker.NewGroup(breaker.GroupConfig{
		Config: breaker.Config{ConsecutiveFailures: 1},
		ConfigFor: func(key string) (breaker.Config, bool) {
			asked = append(asked, key)
			if key == "tolerant" {
				return breaker.Config{ConsecutiveFailures: 3}, true
			}
			return breaker.Config{}, false
		},
	})
	_ = g.Do(keyed("strict"), fail)
	_ = g.Do(keyed("tolerant"), fail)
	m, _ := g.Metrics("strict")
	assert.Equal(t, breaker.Open, m.State, "false: the group's Config")
	m, _ = g.Metrics("tolerant")
	assert.Equal(t, breaker.Closed, m.State)
	_ = g.Do(keyed("strict"), ok)
	assert.Equal(t, []string{"strict", "tolerant"}, asked, "asked once per key")
}

// GroupConfig.Key picks the key of a call; nil means resilience.KeyFrom.
func TestGroupKeyFunc(t *testing.T) {
	t.Parallel()
	type tenant struct{}
	g := breaker.NewGroup(breaker.GroupConfig{
		Config: breaker.Config{ConsecutiveFailures: 1},
		Key:    func(ctx context.Context) string { s, _ := ctx.Value(tenant{}).(string); return s },
	})
	ctx := context.WithValue(keyed("host"), tenant{}, "acme")
	_ = g.Do(ctx, fail)
	m, ok := g.Metrics("acme")
	require.True(t, ok)
	assert.Equal(t, breaker.Open, m.State)
	_, ok = g.Metrics("host")
	assert.False(t, ok)
}

// Get makes the key's breaker, Metrics and Range only look.
func TestGroupGetRangeMetrics(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 1}})
	_, held := g.Metrics("a")
	require.False(t, held)
	require.Zero(t, g.Len())
	b := g.Get("a")
	require.Same(t, b, g.Get("a"))
	require.Equal(t, 1, g.Len())
	_ = g.Do(keyed("a"), fail)
	_ = g.Do(keyed("b"), ok)
	assert.Equal(t, breaker.Open, b.State(), "Do used the breaker Get returned")
	got := map[string]breaker.Metrics{}
	g.Range(func(k string, m breaker.Metrics) bool { got[k] = m; return true })
	require.Len(t, got, 2)
	assert.Equal(t, breaker.Open, got["a"].State)
	assert.Equal(t, uint64(1), got["a"].Failures)
	assert.Equal(t, uint64(1), got["b"].Calls)
	n := 0
	g.Range(func(string, breaker.Metrics) bool { n++; return false })
	assert.Equal(t, 1, n, "Range stops when f returns false")
}

// A breaker with a call in flight is never dropped: the call's outcome
// must reach the breaker the key keeps. A group full of busy breakers
// refuses a new key with an error of its own, not ErrOpen.
func TestGroupNeverEvictsBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 1, IdleTimeout: time.Second,
			Config: breaker.Config{ConsecutiveFailures: 1}})
		started, finish := make(chan struct{}), make(chan struct{})
		go func() {
			_ = g.Do(keyed("a"), func(context.Context) error { close(started); <-finish; return errBoom })
		}()
		<-started
		time.Sleep(time.Minute) // "a" is idle by time, but busy
		err := g.Do(keyed("b"), func(context.Context) error { t.Error("op ran"); return nil })
		require.ErrorIs(t, err, breaker.ErrTooManyKeys)
		assert.NotErrorIs(t, err, breaker.ErrOpen)
		assert.True(t, resilience.IsLocalRejection(err))
		var hs interface{ HTTPStatus() int }
		require.ErrorAs(t, err, &hs)
		assert.Equal(t, http.StatusServiceUnavailable, hs.HTTPStatus())
		var tm *breaker.TooManyKeysError
		require.ErrorAs(t, err, &tm)
		assert.Equal(t, "breaker: too many keys: 1 held, none idle", err.Error())
		close(finish)
		synctest.Wait()
		m, held := g.Metrics("a")
		require.True(t, held, "the busy breaker was kept")
		assert.Equal(t, breaker.Open, m.State, "and its call's failure counted")

		// An open breaker is busy too until its open duration has passed.
		require.ErrorIs(t, g.Do(keyed("b"), ok), breaker.ErrTooManyKeys)
		time.Sleep(breaker.DefaultOpenDuration)
		require.NoError(t, g.Do(keyed("b"), ok), "an open breaker past its open duration makes room")
		_, held = g.Metrics("a")
		assert.False(t, held)
	})
}

// IdleTimeout resilience.Forever drops nothing by idleness: only the least
// recently used idle breaker, when the group is full.
func TestGroupIdleTimeoutForever(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 2, IdleTimeout: resilience.Forever})
		_ = g.Do(keyed("a"), ok)
		time.Sleep(24 * time.Hour)
		_ = g.Do(keyed("b"), ok)
		assert.Equal(t, 2, g.Len(), "nothing dropped by idleness")
		_ = g.Do(keyed("c"), ok)
		assert.Equal(t, 2, g.Len())
		_, held := g.Metrics("c")
		assert.True(t, held)
	})
}

// A key longer than keyed.MaxLen (128 bytes) is held as its SHA-256.
func TestGroupLongKeysHashed(t *testing.T) {
	t.Parallel()
	var asked []int
	g := breaker.NewGroup(breaker.GroupConfig{ConfigFor: func(key string) (breaker.Config, bool) {
		asked = append(asked, len(key))
		return breaker.Config{ConsecutiveFailures: 1}, true
	}})
	long := strings.Repeat("k", 10<<10)
	_ = g.Do(keyed(long), fail)
	assert.Equal(t, []int{10 << 10}, asked, "ConfigFor gets the caller's key")
	m, ok := g.Metrics(long)
	require.True(t, ok)
	assert.Equal(t, breaker.Open, m.State)
	assert.Equal(t, breaker.Open, g.Get(long).State(), "Get finds the same breaker")
	g.Range(func(k string, _ breaker.Metrics) bool {
		assert.True(t, strings.HasPrefix(k, "sha256:"), k)
		assert.Len(t, k, len("sha256:")+64)
		return true
	})
	require.Equal(t, 1, g.Len())
	_, ok = g.Metrics(long + "x")
	assert.False(t, ok, "another long key, another hash")
}

// 20,000 distinct keys of 10 KB under MaxKeys 10,000: the group holds at
// most 10,000 keys of at most 128 bytes, and takes about what it takes
// with short keys, far below 20,000 × 10 KB (195 MiB). The size of a
// breaker depends on GOMAXPROCS (its stripes), hence the comparison with
// short keys rather than a fixed bound alone.
func TestGroupMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 200 MB of keys")
	}
	heap := func(keyLen int) uint64 {
		g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 10000})
		buf := []byte(strings.Repeat("x", keyLen))
		for i := range 20000 {
			copy(buf, fmt.Sprintf("%08d", i))
			_ = g.Do(keyed(string(buf)), ok) // a fresh string each time
		}
		require.LessOrEqual(t, g.Len(), 10000)
		n := 0
		g.Range(func(k string, _ breaker.Metrics) bool {
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
	if runtime.GOMAXPROCS(0) <= 8 {
		assert.Less(t, long, uint64(48<<20), "a quarter of 20,000 × 10 KB")
	}
}

// Many goroutines churn more keys than the group holds: breakers are
// dropped and made again while calls race for them, and still no call's
// breaker is dropped while the call runs.
func TestGroupHammerNeverDropsInFlight(t *testing.T) {
	t.Parallel()
	const keys, workers, calls = 12, 8, 400
	g := breaker.NewGroup(breaker.GroupConfig{MaxKeys: 4})
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				k := fmt.Sprint((w + i) % keys)
				err := g.Do(keyed(k), func(context.Context) error {
					runtime.Gosched() // let other calls churn the keys meanwhile
					if _, held := g.Metrics(k); !held {
						t.Errorf("the breaker of %s was dropped with a call in flight", k)
					}
					return nil
				})
				if err != nil {
					require.ErrorIs(t, err, breaker.ErrTooManyKeys)
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, g.Len(), 4)
	t.Logf("refused %d of %d", refused.Load(), workers*calls)
}

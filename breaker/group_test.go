package breaker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
	b, ok := g.Lookup("")
	require.True(t, ok)
	require.Equal(t, breaker.Open, b.State())
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
		_, ok := g.Lookup(key)
		require.True(t, ok, "the newest key stays")
	}
	n := 0
	g.Range(func(string, *breaker.Breaker) bool { n++; return true })
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
			if _, ok := g.Lookup(k); ok {
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
			_, ok := g.Lookup(k)
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
		_, okIdle := g.Lookup("idle")
		_, okOpen := g.Lookup("open")
		_, okBusy := g.Lookup("busy")
		assert.False(t, okIdle, "idle breaker evicted")
		assert.True(t, okOpen, "open breaker kept while open")
		assert.True(t, okBusy)

		// Once its open duration has passed, an idle open breaker goes too.
		time.Sleep(time.Hour)
		for range 2 {
			time.Sleep(2 * time.Minute)
			_ = g.Get(fmt.Sprint("new", time.Now().UnixNano()))
		}
		_, okOpen = g.Lookup("open")
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
		ConfigFor: func(key string) breaker.Config {
			n := 1
			if key == "tolerant" {
				n = 3
			}
			return breaker.Config{ConsecutiveFailures: n, OnStateChange: func(_ context.Context, _, _ breaker.State) { own.Add(1) }}
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

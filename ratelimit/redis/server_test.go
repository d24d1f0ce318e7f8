package redis_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/redis"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func serve(h http.Handler, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServerPerClient: under resilience.Handler the Redis limiter keeps a
// bucket per client address and writes the RateLimit headers on admitted
// and refused requests.
func TestServerPerClient(t *testing.T) {
	t.Parallel()
	l := redis.New(sharedRedis(t), 0.5, 1, redis.Config{Prefix: prefix(t)})
	h := resilience.Handler(okHandler, l)
	for _, client := range []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"} {
		w := serve(h, client)
		assert.Equal(t, 200, w.Code, client)
		assert.Equal(t, `"default";q=1;w=2`, w.Header().Get("RateLimit-Policy"), client)
		assert.Equal(t, `"default";r=0;t=2`, w.Header().Get("RateLimit"), client)
	}
	w := serve(h, "192.0.2.1:2")
	assert.Equal(t, 429, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"))
	assert.Equal(t, `"default";r=0;t=2`, w.Header().Get("RateLimit"))
}

// TestServerFailClosed: an unavailable store under FailClosed is a local
// rejection, answered 503 with Retry-After.
func TestServerFailClosed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := redis.New(&downScripter{}, 1, 1, redis.Config{OnFailure: redis.FailClosed})
		err := l.Do(resilience.WithKey(context.Background(), "k"), nop)
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		assert.True(t, resilience.IsLocalRejection(err))
		w := serve(resilience.Handler(okHandler, l), "192.0.2.1:1")
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
		assert.Empty(t, w.Header().Get("RateLimit"), "no bucket state, no header")
	})
}

// TestPauseIsCapped: a 429 with Retry-After: 99999999 pauses the host for
// 5 minutes, also under rate.Inf.
func TestPauseIsCapped(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	for name, r := range map[string]rate.Limit{"finite": 100, "rate.Inf": rate.Inf} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int32
			backend := rtFunc(func(req *http.Request) (*http.Response, error) {
				sent.Add(1)
				return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"99999999"}},
					Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
			})
			l := redis.New(c, r, 10, redis.Config{Prefix: prefix(t)})
			client := &http.Client{Transport: resilience.Transport(backend, l)}
			resp, err := client.Get("http://busy.example/")
			require.NoError(t, err)
			resp.Body.Close()
			_, err = client.Get("http://busy.example/")
			require.ErrorIs(t, err, ratelimit.ErrLimited, "paused")
			d, _ := resilience.RetryAfter(err)
			assert.InDelta(t, float64(5*time.Minute), float64(d), float64(time.Second))
			assert.Equal(t, int32(1), sent.Load())
		})
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestInvalidConfigPanics: limits that would refuse everything, or a
// bucket that never refills (it would stay in Redis for ever), panic.
func TestInvalidConfigPanics(t *testing.T) {
	t.Parallel()
	c := &downScripter{}
	tests := map[string]func(){
		"burst 0":   func() { redis.New(c, 1, 0, redis.Config{}) },
		"rate 0":    func() { redis.New(c, 0, 1, redis.Config{}) },
		"+Inf rate": func() { redis.New(c, rate.Limit(math.Inf(1)), 1, redis.Config{}) },
		"queue without a wait": func() {
			redis.New(c, 1, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{MaxQueue: 4}}})
		},
		"tier burst 0": func() {
			l := redis.New(c, 1, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{
				QuotaFor: func(string) (ratelimit.Quota, bool) { return ratelimit.Quota{Rate: 1}, true }}})
			_, _ = l.Take(context.Background(), "k", 1)
		},
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.Contains(t, r, "ratelimit")
			}()
			fn()
		})
	}
}

// TestServerCostAndDryRun: Config.Cost charges by request, and a dry-run
// limiter lets every request through, without headers, reporting what it
// would have refused.
func TestServerCostAndDryRun(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	cost := func(ctx context.Context) int {
		if r := resilience.RequestFrom(ctx); r != nil && r.URL.Path == "/search" {
			return 3
		}
		return 1
	}
	l := redis.New(c, 0.01, 4, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{Cost: cost}}})
	h := resilience.Handler(okHandler, l)
	search := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/search", nil)
		r.RemoteAddr = "192.0.2.1:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := search(h)
	assert.Equal(t, 200, w.Code)
	assert.Contains(t, w.Header().Get("RateLimit"), `"default";r=1;`)
	assert.Equal(t, 429, search(h).Code)
	assert.Equal(t, 200, serve(h, "192.0.2.1:1").Code, "a page costs 1")

	var limited atomic.Int32
	dry := redis.New(c, 0.01, 1, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{
		DryRun: true, OnLimited: func(context.Context, *ratelimit.LimitedError) { limited.Add(1) }}}})
	h = resilience.Handler(okHandler, dry)
	for range 3 {
		w := serve(h, "192.0.2.1:1")
		assert.Equal(t, 200, w.Code)
		assert.Empty(t, w.Header().Get("RateLimit"))
	}
	assert.Equal(t, int32(2), limited.Load())
}

// TestInfPauseWaitsWithinMaxWait: a rate.Inf key paused by a 429 waits for
// the end of the pause when MaxWait allows it, without asking Redis.
func TestInfPauseWaitsWithinMaxWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		down := &downScripter{}
		l := redis.New(down, rate.Inf, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: 2 * time.Second}}})
		ctx := context.Background()
		l.Pause(ctx, "k", 3*time.Second)
		err := l.Wait(ctx, "k")
		var le *ratelimit.LimitedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, ratelimit.ReasonPaused, le.Reason())
		time.Sleep(time.Second)
		start := time.Now()
		require.NoError(t, l.Wait(ctx, "k"))
		assert.Equal(t, 2*time.Second, time.Since(start))
		assert.Zero(t, down.calls.Load(), "rate.Inf never asks Redis")
	})
}

package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/ratelimit"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func serve(h http.Handler, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerLimitsPerClient(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewKeyed(1, 2, ratelimit.KeyedConfig{Config: ratelimit.Config{Name: "per-ip"}})
		h := ratelimit.Handler(okHandler, k)
		w := serve(h, "192.0.2.1:1000")
		assert.Equal(t, 200, w.Code)
		assert.Equal(t, `"per-ip";q=2;w=2`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, `"per-ip";r=1;t=1`, w.Header().Get("RateLimit"))
		assert.Empty(t, w.Header().Get("X-RateLimit-Limit"))
		serve(h, "192.0.2.1:1000")

		w = serve(h, "192.0.2.1:1001")
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "Too Many Requests\n", w.Body.String())
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
		assert.Equal(t, `"per-ip";r=0;t=1`, w.Header().Get("RateLimit"))
		assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

		assert.Equal(t, 200, serve(h, "192.0.2.2:1000").Code, "another client has its own bucket")
		time.Sleep(time.Second)
		assert.Equal(t, 200, serve(h, "192.0.2.1:1000").Code)
	})
}

func TestHandlerOptions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var limited []string
		l := ratelimit.New(1, 10)
		h := ratelimit.Handler(okHandler, l, ratelimit.HTTPConfig{
			Key:           httpkey.Header("X-Api-Key", nil),
			Cost:          func(r *http.Request) int { return len(r.Header.Get("X-Cost")) },
			LegacyHeaders: true,
			NoHeaders:     true,
			OnLimited:     func(_ *http.Request, key string, d ratelimit.Decision) { limited = append(limited, key) },
			Limited: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTeapot)
			}),
		})
		w := serve(h, "192.0.2.1:1", "X-Cost", "xxxxxxx", "X-Api-Key", "k1")
		assert.Equal(t, 200, w.Code)
		assert.Empty(t, w.Header().Get("RateLimit"))
		assert.Equal(t, "10", w.Header().Get("X-RateLimit-Limit"))
		assert.Equal(t, "3", w.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, "7", w.Header().Get("X-RateLimit-Reset"))
		w = serve(h, "192.0.2.1:1", "X-Cost", "xxxx", "X-Api-Key", "k1")
		assert.Equal(t, http.StatusTeapot, w.Code)
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
		assert.Equal(t, []string{"x-api-key:k1"}, limited)
		assert.Equal(t, 200, serve(h, "192.0.2.1:1").Code, "cost 0 is free")
	})
}

func TestHandlerDryRun(t *testing.T) {
	t.Parallel()
	var limited atomic.Int32
	h := ratelimit.Handler(okHandler, ratelimit.New(0, 1), ratelimit.HTTPConfig{
		DryRun:    true,
		OnLimited: func(*http.Request, string, ratelimit.Decision) { limited.Add(1) },
	})
	for range 3 {
		w := serve(h, "192.0.2.1:1")
		assert.Equal(t, 200, w.Code)
		assert.Empty(t, w.Header().Get("RateLimit"))
		assert.Empty(t, w.Header().Get("Retry-After"))
	}
	assert.Equal(t, int32(2), limited.Load())
}

type takerFunc func(ctx context.Context, key string, cost int) (ratelimit.Decision, error)

func (f takerFunc) Take(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
	return f(ctx, key, cost)
}

func TestHandlerTakerFailures(t *testing.T) {
	t.Parallel()
	unavailable := takerFunc(func(context.Context, string, int) (ratelimit.Decision, error) {
		return ratelimit.Decision{}, &ratelimit.LimitedError{Reason: ratelimit.Unavailable, Wait: 2 * time.Second, Cause: errors.New("down")}
	})
	w := serve(ratelimit.Handler(okHandler, unavailable), "192.0.2.1:1")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"))

	plain := takerFunc(func(context.Context, string, int) (ratelimit.Decision, error) {
		return ratelimit.Decision{}, errors.New("x")
	})
	assert.Equal(t, http.StatusServiceUnavailable, serve(ratelimit.Handler(okHandler, plain), "192.0.2.1:1").Code)
	assert.Equal(t, 200, serve(ratelimit.Handler(okHandler, plain, ratelimit.HTTPConfig{DryRun: true}), "192.0.2.1:1").Code)

	open := takerFunc(func(context.Context, string, int) (ratelimit.Decision, error) {
		return ratelimit.Decision{Allowed: true, Remaining: -1}, nil
	})
	w = serve(ratelimit.Handler(okHandler, open), "192.0.2.1:1")
	assert.Equal(t, 200, w.Code)
	assert.Empty(t, w.Header().Get("RateLimit"), "no bucket state, no header")

	assert.Panics(t, func() { ratelimit.Handler(okHandler, nil) })
}

// TestWithResilienceHandler: a limiter as a policy of resilience.Handler
// gets 429 and Retry-After from the root package's protocol.
func TestWithResilienceHandler(t *testing.T) {
	t.Parallel()
	h := resilience.Handler(okHandler, ratelimit.New(2, 1))
	assert.Equal(t, 200, serve(h, "192.0.2.1:1").Code)
	w := serve(h, "192.0.2.1:1")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportPausesHostOn429: inside resilience.Transport, a Keyed limiter
// keeps one bucket per host and pauses a host that answered 429.
func TestTransportPausesHostOn429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int32
		backend := rtFunc(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}
			if r.URL.Host == "busy.example" {
				resp.StatusCode = http.StatusTooManyRequests
				resp.Header.Set("Retry-After", "30")
			}
			return resp, nil
		})
		hosts := ratelimit.NewKeyed(100, 10)
		client := &http.Client{Transport: resilience.Transport(backend, hosts)}
		get := func(url string) (*http.Response, error) {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			return resp, err
		}
		resp, err := get("http://busy.example/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		_, err = get("http://busy.example/")
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		d, _ := resilience.RetryAfter(err)
		assert.Equal(t, 30*time.Second, d)
		assert.Equal(t, int32(1), sent.Load(), "the paused host got no second request")
		resp, err = get("http://calm.example/")
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		time.Sleep(30 * time.Second)
		_, err = get("http://busy.example/")
		require.NoError(t, err)
		assert.Equal(t, int32(3), sent.Load())
	})
}

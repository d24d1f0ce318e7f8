package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
)

// hugeRetryAfter is a downstream that answers every request 429 with a
// Retry-After of three years.
func hugeRetryAfter(sent *atomic.Int32) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		h := http.Header{"Retry-After": {"99999999"}}
		return &http.Response{StatusCode: http.StatusTooManyRequests, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
}

// TestPauseIsCapped: one 429 with Retry-After: 99999999 pauses a host for
// DefaultMaxPause (5 minutes), not for the 24 h that Retry-After parsing
// caps it at, and the same under every limit, rate.Inf and rate 0
// included.
func TestPauseIsCapped(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5*time.Minute, ratelimit.DefaultMaxPause)
	const maxPause = ratelimit.DefaultMaxPause
	tests := map[string]func() resilience.Policy{
		"Limiter":          func() resilience.Policy { return ratelimit.New(10, 10, ratelimit.Config{}) },
		"Limiter rate.Inf": func() resilience.Policy { return ratelimit.New(rate.Inf, 0, ratelimit.Config{}) },
		"Group":            func() resilience.Policy { return ratelimit.NewGroup(10, 10, ratelimit.GroupConfig{}) },
		"Group rate.Inf":   func() resilience.Policy { return ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{}) },
		"Group rate 0":     func() resilience.Policy { return ratelimit.NewGroup(0, 10, ratelimit.GroupConfig{}) },
		"Group tier rate.Inf": func() resilience.Policy {
			return ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{
				QuotaFor: func(string) (ratelimit.Quota, bool) { return ratelimit.Quota{Rate: rate.Inf}, true }})
		},
	}
	for name, policy := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var sent atomic.Int32
				client := &http.Client{Transport: resilience.Transport(hugeRetryAfter(&sent), policy())}
				get := func() error {
					resp, err := client.Get("http://busy.example/")
					if err == nil {
						resp.Body.Close()
					}
					return err
				}
				require.NoError(t, get())
				err := get()
				require.ErrorIs(t, err, ratelimit.ErrLimited, "paused")
				d, _ := resilience.RetryAfter(err)
				assert.Equal(t, maxPause, d)
				assert.Equal(t, int32(1), sent.Load())
				time.Sleep(maxPause - time.Second)
				require.ErrorIs(t, get(), ratelimit.ErrLimited, "still paused")
				time.Sleep(time.Second)
				require.NoError(t, get(), "the pause ended after 5 minutes")
				assert.Equal(t, int32(2), sent.Load())
			})
		})
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportPausesHostOn429: inside resilience.Transport, a Group
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
		hosts := ratelimit.NewGroup(100, 10, ratelimit.GroupConfig{})
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

// TestPauseWaitsWithinMaxWait: a paused key, under any limit, makes a call
// with a MaxWait wait for the end of the pause; a pause longer than
// MaxWait is refused at once with Reason Paused.
func TestPauseWaitsWithinMaxWait(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]rate.Limit{"rate.Inf": rate.Inf, "rate 0": 0, "finite": 10} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				k := ratelimit.NewGroup(r, 5, ratelimit.GroupConfig{Config: ratelimit.Config{MaxWait: 2 * time.Second}})
				ctx := context.Background()
				k.Pause("k", 3*time.Second)
				assert.Equal(t, 3*time.Second, k.Paused("k"))
				assert.Zero(t, k.Paused("other"))
				err := k.Wait(ctx, "k")
				var le *ratelimit.LimitedError
				require.ErrorAs(t, err, &le)
				assert.Equal(t, ratelimit.ReasonPaused, le.Reason())
				assert.Equal(t, 3*time.Second, le.RetryAfter())
				d, _ := k.Take(ctx, "k", 1)
				assert.Equal(t, ratelimit.ReasonPaused, d.Reason)
				assert.False(t, k.Allow("k"))
				time.Sleep(time.Second)
				start := time.Now()
				require.NoError(t, k.Wait(ctx, "k"))
				assert.Equal(t, 2*time.Second, time.Since(start), "waited for the end of the pause")
				assert.Zero(t, k.Paused("k"))
				assert.True(t, k.Allow("other"), "other keys are not paused")
			})
		})
	}
}

// TestPauseIsBounded: the pauses of distinct keys are bounded by MaxKeys
// and forgotten when they end.
func TestPauseIsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{MaxKeys: 128})
		for i := range 1000 {
			k.Pause(fmt.Sprint("host-", i), time.Minute)
		}
		paused := 0
		for i := range 1000 {
			if k.Paused(fmt.Sprint("host-", i)) > 0 {
				paused++
			}
		}
		assert.LessOrEqual(t, paused, 128)
		assert.Positive(t, paused)
		time.Sleep(time.Minute)
		for i := range 1000 {
			assert.True(t, k.Allow(fmt.Sprint("host-", i)))
		}
	})
}

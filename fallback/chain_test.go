package fallback_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/retry"
)

// The usual composition, resilience.Chain(fallback, retry, breaker), with
// resilience.Do: the fallback answers only what is left once the retries
// gave up, answers the open breaker's rejections at once (the retry ends
// on a local rejection), and a good value after the breaker closed
// replaces the remembered one.
func TestChainFallbackRetryBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fb := fallback.New(fallback.Value("dummy"), fallback.Config{Stale: time.Hour})
		rt := retry.New(retry.Config{MaxRetries: 2})
		br := breaker.New(breaker.Config{ConsecutiveFailures: 3, OpenDuration: time.Minute})
		p := resilience.Chain(fb, rt, br)
		ctx := resilience.WithKey(context.Background(), "quote")

		calls := 0
		script := func(outcomes ...string) func(context.Context) (string, error) {
			return func(context.Context) (string, error) {
				v := outcomes[min(calls, len(outcomes)-1)]
				calls++
				if v == "" {
					return "", errDown
				}
				return v, nil
			}
		}

		// A failure the retry mends: no fallback.
		calls = 0
		v, err := resilience.Do(ctx, p, script("", "v1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", v)
		assert.Equal(t, 2, calls)
		assert.Zero(t, fb.Metrics().Failures)

		// Every attempt fails; the third opens the breaker; the retry gives
		// up and the fallback answers with the last good value.
		calls = 0
		v, err = resilience.Do(ctx, p, script(""))
		require.NoError(t, err)
		assert.Equal(t, "v1", v)
		assert.Equal(t, 3, calls)
		require.Equal(t, breaker.Open, br.State())

		// Open: the breaker rejects, the retry ends at once, the fallback
		// answers without op running.
		calls = 0
		start := time.Now()
		v, err = resilience.Do(ctx, p, script("never"))
		require.NoError(t, err)
		assert.Equal(t, "v1", v)
		assert.Zero(t, calls)
		assert.Zero(t, time.Since(start), "answered at once")

		// Another key has no good value: the dummy answers.
		v, err = resilience.Do(resilience.WithKey(ctx, "other"), p, script("never"))
		require.NoError(t, err)
		assert.Equal(t, "dummy", v)

		// The breaker lets a probe through after a minute; its good value
		// is remembered.
		time.Sleep(time.Minute)
		v, err = resilience.Do(ctx, p, script("v2"))
		require.NoError(t, err)
		assert.Equal(t, "v2", v)
		br.ForceOpen()
		v, _ = resilience.Do(ctx, p, script("never"))
		assert.Equal(t, "v2", v)

		m := fb.Metrics()
		assert.Equal(t, uint64(4), m.Failures)
		assert.Equal(t, map[fallback.Kind]uint64{fallback.KindStale: 3, fallback.KindValue: 1}, kinds(m))
		assert.Equal(t, uint64(2), m.Stored)
	})
}

// The same composition under resilience.Transport, where the fallback
// answers with a response.
func TestChainUnderTransport(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	fb := fallback.NewHTTP(fallback.StaticResponse(200, nil, "dummy"), fallback.HTTPConfig{Stale: time.Hour})
	rt := retry.New(retry.Config{MaxRetries: 1, InitialDelay: resilience.None, MaxDelay: resilience.None})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenDuration: time.Hour})
	c := u.client(fb, rt, br)

	_, body := get(t, c, u.URL+"/a")
	require.Equal(t, "good body", body)
	u.set(503, "busy", nil)
	resp, body := get(t, c, u.URL+"/a")
	assert.Equal(t, "good body", body)
	assert.Equal(t, staleWarning, resp.Header.Get("Warning"))
	assert.Equal(t, int32(3), u.hits.Load(), "one good, two failed attempts")
	require.Equal(t, breaker.Open, br.State())
	_, body = get(t, c, u.URL+"/b")
	assert.Equal(t, "dummy", body)
	assert.Equal(t, int32(3), u.hits.Load())
}

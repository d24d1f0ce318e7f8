package chaos_test

// The tests of the testing guide (docs/testing.md): each failure mode played
// in virtual time, against the stand-in policies of the examples (retry,
// breaker, timeLimit, staleCache).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// ordersAPI is the dependency of the guide: it answers every request.
var ordersAPI = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "order 42\n")
})

func getStatus(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func TestGuideRetryOn503(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    chaos.Fault
		attempts int
		status   int
		gaps     []time.Duration
	}{
		{"honours Retry-After", chaos.Fault{When: chaos.First(2), Action: chaos.Status(503, "Retry-After", "1")},
			5, 200, []time.Duration{time.Second, time.Second}},
		{"backs off without a hint", chaos.Fault{When: chaos.First(3), Action: chaos.Status(503)},
			5, 200, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"gives up and returns the last 503", chaos.Fault{Action: chaos.Status(503)},
			3, 503, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"retries resets", chaos.Fault{When: chaos.Script("x.x"), Action: chaos.ConnReset()},
			5, 200, []time.Duration{100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &chaos.Recorder{}
				flaky := chaos.New(chaos.Config{Recorder: rec}, tt.fault)
				client := &http.Client{Transport: resilience.Transport(
					flaky.Transport(chaos.InProcess(ordersAPI)),
					retry{attempts: tt.attempts, base: 100 * time.Millisecond},
				)}
				assert.Equal(t, tt.status, getStatus(t, client, "http://orders.test/orders/42"))
				assert.Equal(t, tt.gaps, rec.Gaps())
			})
		})
	}
}

func TestGuideBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &chaos.Recorder{}
		db := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{
			When:   chaos.Between(t0.Add(10*time.Second), t0.Add(40*time.Second)),
			Action: chaos.ConnRefused(),
		})
		b := &breaker{threshold: 3, cooldown: 15 * time.Second}
		p := resilience.Chain(b, db)

		rejected := 0
		for range 60 { // one call a second for a minute
			err := p.Do(context.Background(), func(context.Context) error { return nil })
			if errors.Is(err, errOpen) {
				rejected++
			}
			time.Sleep(time.Second)
		}

		var failedAt []time.Duration
		for _, a := range rec.Attempts() {
			if a.Err != nil {
				failedAt = append(failedAt, a.Start.Sub(t0))
			}
		}
		// Three failures open the breaker at 12 s; the call after the
		// cooldown (27 s) still fails and opens it again; the one at 42 s,
		// after the outage, closes it.
		assert.Equal(t, []time.Duration{10 * time.Second, 11 * time.Second, 12 * time.Second, 27 * time.Second}, failedAt)
		assert.Equal(t, 28, rejected, "calls spared while open: 13-26 s and 28-41 s")
		assert.Equal(t, 60-28, rec.Len(), "calls that reached the dependency")
		assert.Equal(t, int64(4), db.Injected(chaos.KindConnRefused))
	})
}

func TestGuideTimeoutOfHangingDependency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		deps := chaos.Transport(chaos.InProcess(ordersAPI),
			chaos.Fault{Match: chaos.Path("/hang"), Action: chaos.Hang()},
			chaos.Fault{Match: chaos.Path("/dial"), Delay: chaos.Fixed(30 * time.Second), Action: chaos.DialTimeout()},
			chaos.Fault{Match: chaos.Path("/slow"), Delay: chaos.Fixed(time.Second)},
		)
		client := &http.Client{Transport: resilience.Transport(deps, timeLimit(2*time.Second))}
		for _, path := range []string{"/hang", "/dial"} {
			start := time.Now()
			_, err := client.Get("http://reports.test" + path) //nolint:bodyclose // an error comes without a response
			require.ErrorIs(t, err, context.DeadlineExceeded, path)
			assert.Equal(t, 2*time.Second, time.Since(start), path)
		}
		start := time.Now()
		assert.Equal(t, 200, getStatus(t, client, "http://reports.test/slow"))
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestGuideStaleCacheDuringOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		outage := chaos.Policy(chaos.Fault{
			When:   chaos.Between(t0.Add(15*time.Second), t0.Add(45*time.Second)),
			Action: chaos.ConnReset(),
		})
		loads := 0
		c := &staleCache{ttl: 10 * time.Second, load: func(ctx context.Context, key string) (string, error) {
			return resilience.Do(ctx, outage, func(context.Context) (string, error) {
				loads++
				return fmt.Sprintf("%s v%d", key, loads), nil
			})
		}}
		var staleAt []time.Duration
		for range 13 { // a read every 5 s for a minute
			v, stale, err := c.Get(context.Background(), "price")
			require.NoError(t, err, "the outage never reaches the reader")
			require.NotEmpty(t, v)
			if stale {
				staleAt = append(staleAt, time.Since(t0))
			}
			time.Sleep(5 * time.Second)
		}
		// Loaded at 0 and 10 s; from 20 s the loads fail and the value of
		// 10 s is served until the outage ends at 45 s.
		assert.Equal(t, []time.Duration{20 * time.Second, 25 * time.Second, 30 * time.Second, 35 * time.Second,
			40 * time.Second}, staleAt)
	})
}

func TestGuideRateLimitedServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &chaos.Recorder{}
		server := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{
			When:   chaos.First(2),
			Action: chaos.Status(http.StatusTooManyRequests, "Retry-After", "3"),
		}).Handler(ordersAPI)
		client := &http.Client{Transport: resilience.Transport(chaos.InProcess(server),
			retry{attempts: 5, base: 100 * time.Millisecond})}

		assert.Equal(t, 200, getStatus(t, client, "http://orders.test/orders/42"))
		assert.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, rec.Gaps(),
			"the client waits as long as the server asked")
		var codes []int
		for _, a := range rec.Attempts() {
			codes = append(codes, a.Status)
		}
		assert.Equal(t, []int{429, 429, 200}, codes)
	})
}

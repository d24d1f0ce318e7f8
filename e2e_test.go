package resilience_test

import (
	"context"
	"errors"
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
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// pricing is a fake pricing service for a catalog that calls it through
// Transport: it answers with status after taking latency (or until the
// request's context ends, as a real connection would), and a Retry-After
// when retryAfter is set.
type pricing struct {
	status     atomic.Int32
	latency    time.Duration
	retryAfter string
	calls      atomic.Int32
	mu         sync.Mutex
	at         []time.Time // when each request arrived
}

func (p *pricing) RoundTrip(req *http.Request) (*http.Response, error) {
	p.calls.Add(1)
	p.mu.Lock()
	p.at = append(p.at, time.Now())
	p.mu.Unlock()
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	h := http.Header{}
	if p.retryAfter != "" {
		h.Set("Retry-After", p.retryAfter)
	}
	code := int(p.status.Load())
	return &http.Response{StatusCode: code, Header: h, Request: req, Body: io.NopCloser(strings.NewReader("price"))}, nil
}

func get(ctx context.Context, c *http.Client) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://pricing.test/price/42", nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return errors.New(resp.Status)
	}
	return nil
}

// Issue 12, point 1, as the README composes the policies: during an outage
// a call through retry and an open breaker fails at once, whatever the
// open duration, instead of sleeping until the breaker's next probe.
func TestOutageFailsFastThroughRetryAndBreaker(t *testing.T) {
	t.Parallel()
	for _, open := range []time.Duration{10 * time.Second, 11 * time.Second} {
		t.Run(open.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				dep := &pricing{}
				dep.status.Store(503)
				b := breaker.New(breaker.Config{OpenDuration: open})
				client := &http.Client{Transport: resilience.Transport(dep,
					retry.New(retry.Config{MaxRetries: 3, MaxDelay: 10 * time.Second}), b)}
				for b.State() != breaker.Open {
					_ = get(context.Background(), client)
				}
				before := dep.calls.Load()
				for range 5 {
					start := time.Now()
					err := get(context.Background(), client)
					require.ErrorIs(t, err, breaker.ErrOpen)
					assert.Zero(t, time.Since(start), "a call during the outage waited")
				}
				assert.Equal(t, before, dep.calls.Load(), "nothing reached the dependency while open")
			})
		})
	}
}

// Point 2: callers told the same Retry-After do not all come back at the
// same instant.
func TestRetryAfterHerdIsSpread(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dep := &pricing{retryAfter: "1"}
		dep.status.Store(503)
		client := &http.Client{Transport: resilience.Transport(dep, retry.New(retry.Config{MaxRetries: 1}))}
		start := time.Now()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { _ = get(context.Background(), client) })
		}
		wg.Wait()
		seen := map[time.Duration]bool{}
		for _, at := range dep.at {
			if d := at.Sub(start); d > 0 {
				assert.GreaterOrEqual(t, d, time.Second, "came back before the server asked")
				assert.Less(t, d, 1200*time.Millisecond)
				seen[d] = true
			}
		}
		assert.Greater(t, len(seen), 10, "the second attempts are not spread: %v", seen)
	})
}

// Point 4: callers with short deadlines against a healthy but slower
// dependency do not open a shared breaker; a per-attempt time limit that
// expires inside it still counts.
func TestImpatientCallersDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dep := &pricing{latency: 50 * time.Millisecond}
		dep.status.Store(200)
		b := breaker.New(breaker.Config{OpenDuration: time.Minute})
		client := &http.Client{Transport: resilience.Transport(dep, b)}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
				defer cancel()
				assert.ErrorIs(t, get(ctx, client), context.DeadlineExceeded)
			})
		}
		wg.Wait()
		assert.Equal(t, breaker.Closed, b.State(), "the callers' own deadlines opened the breaker")
		require.NoError(t, get(context.Background(), client))

		// The same latency under a per-attempt limit of 5 ms is the
		// dependency being too slow: 5 of them open the breaker.
		limited := &http.Client{Transport: resilience.Transport(dep, b, timelimit.New(5*time.Millisecond, timelimit.Config{}))}
		for range 5 {
			assert.Error(t, get(context.Background(), limited))
		}
		assert.Equal(t, breaker.Open, b.State())
	})
}

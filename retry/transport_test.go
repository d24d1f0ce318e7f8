package retry_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// scripted is a fake http.RoundTripper that answers with the given
// statuses in turn (the last one over and over) and counts the requests.
type scripted struct {
	mu         sync.Mutex
	statuses   []int
	retryAfter string
	calls      int
	times      []time.Duration
	start      time.Time
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := s.statuses[min(s.calls, len(s.statuses)-1)]
	s.calls++
	s.times = append(s.times, time.Since(s.start))
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	if s.retryAfter != "" {
		h.Set("Retry-After", s.retryAfter)
	}
	return &http.Response{
		StatusCode: code, Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader("status " + strconv.Itoa(code))),
	}, nil
}

func TestTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		header     http.Header
		statuses   []int
		retryAfter string
		wantStatus int
		wantCalls  int
	}{
		{"GET recovers", http.MethodGet, nil, []int{503, 502, 200}, "", 200, 3},
		{"GET exhausted returns the last response", http.MethodGet, nil, []int{503}, "", 503, 4},
		{"404 is not a failure", http.MethodGet, nil, []int{404}, "", 404, 1},
		{"POST is not retried", http.MethodPost, nil, []int{503, 200}, "", 503, 1},
		{"POST with Idempotency-Key is retried", http.MethodPost, http.Header{"Idempotency-Key": {"k1"}}, []int{503, 200}, "", 200, 2},
		{"Retry-After within MaxDelay is honoured", http.MethodGet, nil, []int{429, 200}, "2", 200, 2},
		{"Retry-After beyond MaxDelay gives up at once", http.MethodGet, nil, []int{429, 200}, "60", 429, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rt := &scripted{statuses: tt.statuses, retryAfter: tt.retryAfter, start: time.Now()}
				r := retry.New(retry.Config{Jitter: retry.JitterNone, RetryAfterJitter: resilience.None})
				client := &http.Client{Transport: resilience.Transport(rt, r)}
				req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://api.test/items", strings.NewReader("body"))
				require.NoError(t, err)
				for k, v := range tt.header {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, tt.wantStatus, resp.StatusCode)
				assert.Equal(t, "status "+strconv.Itoa(tt.wantStatus), string(body))
				assert.Equal(t, tt.wantCalls, rt.calls)
				if tt.retryAfter == "2" {
					assert.Equal(t, []time.Duration{0, 2 * time.Second}, rt.times)
				}
			})
		})
	}
}

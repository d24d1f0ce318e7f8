package health_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ resilience.Policy = (*health.Gate)(nil)

type answer struct {
	Code        int
	ContentType string
	Body        map[string]any
}

func probe(t *testing.T, h http.Handler) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var b map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	return answer{rec.Code, rec.Header().Get("Content-Type"), b}
}

func fixed(r health.Result) health.Check { return func(context.Context) health.Result { return r } }

func TestReadiness(t *testing.T) {
	t.Parallel()
	h := health.New(health.Config{ServiceID: "payments", Version: "1.2"})
	a := probe(t, h.Ready())
	assert.Equal(t, http.StatusOK, a.Code, "no check: ready")
	assert.Equal(t, "application/health+json", a.ContentType)
	assert.Equal(t, "pass", a.Body["status"])
	assert.Equal(t, "payments", a.Body["serviceId"])

	h.Add("db", "datastore", fixed(health.Result{Status: health.Pass, ObservedValue: 3, ObservedUnit: "conns"}))
	h.Add("cache", "component", fixed(health.Result{Status: health.Warn, Output: "cold"}))
	a = probe(t, h.Ready())
	assert.Equal(t, http.StatusOK, a.Code, "a warning is still ready")
	assert.Equal(t, "warn", a.Body["status"])
	checks := a.Body["checks"].(map[string]any)
	db := checks["db"].([]any)[0].(map[string]any)
	assert.Equal(t, "datastore", db["componentType"])
	assert.EqualValues(t, 3, db["observedValue"])
	assert.Equal(t, "conns", db["observedUnit"])
	_, err := time.Parse(time.RFC3339Nano, db["time"].(string))
	assert.NoError(t, err)

	h.Add("queue", "", fixed(health.Result{Status: "sideways"}))
	a = probe(t, h.Ready())
	assert.Equal(t, http.StatusServiceUnavailable, a.Code, "an unknown status is a failure")
	assert.Equal(t, "fail", a.Body["status"])
	assert.Equal(t, "fail", a.Body["checks"].(map[string]any)["queue"].([]any)[0].(map[string]any)["status"])

	// Liveness ignores the checks.
	a = probe(t, h.Live())
	assert.Equal(t, http.StatusOK, a.Code)
	assert.Equal(t, "pass", a.Body["status"])
	assert.Nil(t, a.Body["checks"])

	assert.Panics(t, func() { h.Add("db", "", fixed(health.Result{})) }, "a name twice")
	assert.Panics(t, func() { h.Add("", "", fixed(health.Result{})) })
	assert.Panics(t, func() { h.Add("x", "", nil) })
	assert.Panics(t, func() { health.New(health.Config{RetryAfter: -1}) })

	// A value that does not marshal fails the probe instead of breaking it.
	bad := health.New(health.Config{})
	bad.Add("odd", "", fixed(health.Result{Status: health.Pass, ObservedValue: func() {}}))
	a = probe(t, bad.Ready())
	assert.Equal(t, http.StatusServiceUnavailable, a.Code)
}

func TestPolicyChecks(t *testing.T) {
	t.Parallel()
	br := breaker.New(breaker.Config{})
	bh := bulkhead.New(1, bulkhead.Config{MaxWait: time.Hour})
	h := health.New(health.Config{})
	h.Add("breaker", "component", health.Breaker(br))
	h.Add("bulkhead", "component", health.Bulkhead(bh))
	status, res := h.Report(context.Background())
	assert.Equal(t, health.Pass, status)
	assert.Equal(t, "closed", res["breaker"].ObservedValue)

	br.ForceOpen()
	status, res = h.Report(context.Background())
	assert.Equal(t, health.Fail, status)
	assert.Contains(t, res["breaker"].Output, "open")
	br.Reset()

	gate := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = bh.Do(context.Background(), func(context.Context) error { <-gate; return nil }) })
	require.Eventually(t, func() bool { return bh.Metrics().InFlight == 1 }, 10*time.Second, time.Millisecond)
	status, _ = h.Report(context.Background())
	assert.Equal(t, health.Warn, status, "every permit taken")
	wg.Go(func() { _ = bh.Do(context.Background(), func(context.Context) error { return nil }) })
	require.Eventually(t, func() bool { return bh.Metrics().Queued == 1 }, 10*time.Second, time.Millisecond)
	status, res = h.Report(context.Background())
	assert.Equal(t, health.Fail, status, "saturated")
	assert.Equal(t, 1, res["bulkhead"].ObservedValue)
	close(gate)
	wg.Wait()
}

// Requests in flight when the service starts to drain all complete; the
// service is not ready from then on, new requests get 503 with
// Retry-After, and Drain returns once the last request finished.
func TestDrain(t *testing.T) {
	t.Parallel()
	h := health.New(health.Config{RetryAfter: 2 * time.Second})
	gate := make(chan struct{})
	entered := make(chan struct{}, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-gate
		_, _ = io.WriteString(w, "done")
	})
	srv := httptest.NewServer(resilience.NewHandler(mux, resilience.HandlerConfig{}, h.Policy()))
	defer srv.Close()

	const inFlight = 5
	codes := make(chan int, inFlight)
	for range inFlight {
		go func() {
			resp, err := http.Get(srv.URL + "/work")
			if err != nil {
				codes <- -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range inFlight {
		<-entered
	}
	assert.Equal(t, inFlight, h.InFlight())

	drained := make(chan error, 1)
	go func() { drained <- h.Drain(context.Background()) }()
	require.Eventually(t, h.Draining, 10*time.Second, time.Millisecond)
	assert.Equal(t, http.StatusServiceUnavailable, probe(t, h.Ready()).Code, "not ready while draining")
	assert.Equal(t, http.StatusOK, probe(t, h.Live()).Code, "still alive")

	resp, err := http.Get(srv.URL + "/work")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a new request goes elsewhere")
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))

	select {
	case <-drained:
		t.Fatal("Drain returned with requests in flight")
	default:
	}
	close(gate)
	require.NoError(t, <-drained)
	for range inFlight {
		assert.Equal(t, http.StatusOK, <-codes, "every request in flight completed")
	}
	assert.Zero(t, h.InFlight())
	require.NoError(t, h.Drain(context.Background()), "again: at once")
}

// Drain's context bounds the wait for calls that do not finish.
func TestDrainBounded(t *testing.T) {
	t.Parallel()
	h := health.New(health.Config{})
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.Policy().Do(context.Background(), func(context.Context) error { <-gate; return nil })
	}()
	require.Eventually(t, func() bool { return h.InFlight() == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, h.Drain(ctx), context.DeadlineExceeded)
	err := h.Policy().Do(context.Background(), func(context.Context) error { return nil })
	assert.ErrorIs(t, err, health.ErrDraining)
	assert.True(t, resilience.IsLocalRejection(err))
	close(gate)
	require.NoError(t, <-done, "the call in flight went on")
}

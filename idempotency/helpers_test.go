package idempotency_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
)

// counting is a handler that counts its calls and answers 201 with the
// request body echoed, a Location and a cookie.
type counting struct {
	calls atomic.Int64
	hold  chan struct{} // when not nil, each call waits for it
	fn    func(w http.ResponseWriter, r *http.Request)
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.calls.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	if c.fn != nil {
		c.fn(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Location", "/orders/1")
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Set-Cookie", "session=abc")
	w.Header().Set("X-Call", strings.Repeat("n", int(n)))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte("created " + string(body)))
}

func post(key, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/orders?x=1", strings.NewReader(body))
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// requireProblem checks a problem+json answer of status whose type names
// the error.
func requireProblem(t *testing.T, w *httptest.ResponseRecorder, status int, name string) {
	t.Helper()
	require.Equal(t, status, w.Code, "body: %s", w.Body.String())
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var p problemBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Equal(t, status, p.Status)
	require.True(t, strings.HasSuffix(p.Type, "#"+name), "type %q names %s", p.Type, name)
	require.NotEmpty(t, p.Detail)
}

func newKeys(c idempotency.Config) (*idempotency.Keys, *idempotency.MemoryStore) {
	st := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	return idempotency.New(st, c), st
}

// faultyStore fails the methods it is told to.
type faultyStore struct {
	idempotency.Store
	mu                             sync.Mutex
	acquire, complete, extend, rel error
}

func (f *faultyStore) set(fn func(f *faultyStore)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *faultyStore) Acquire(ctx context.Context, r idempotency.Record, now time.Time) (idempotency.Record, bool, error) {
	f.mu.Lock()
	err := f.acquire
	f.mu.Unlock()
	if err != nil {
		return idempotency.Record{}, false, err
	}
	return f.Store.Acquire(ctx, r, now)
}

func (f *faultyStore) Complete(ctx context.Context, r idempotency.Record, now time.Time) error {
	f.mu.Lock()
	err := f.complete
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.Complete(ctx, r, now)
}

func (f *faultyStore) Extend(ctx context.Context, key, token string, until time.Time) error {
	f.mu.Lock()
	err := f.extend
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.Extend(ctx, key, token, until)
}

func (f *faultyStore) Release(ctx context.Context, key, token string) error {
	f.mu.Lock()
	err := f.rel
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.Release(ctx, key, token)
}

func contextCause(r *http.Request) error { return context.Cause(r.Context()) }

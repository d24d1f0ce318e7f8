package resilience_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

// rejection is an error like those of ratelimit, bulkhead and breaker.
type rejection struct {
	status int
	wait   time.Duration
}

func (r rejection) Error() string             { return "rejected with secrets inside" }
func (r rejection) HTTPStatus() int           { return r.status }
func (r rejection) RetryAfter() time.Duration { return r.wait }
func deny(err error) resilience.Policy {
	return resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return err })
}
func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
}

func TestHandlerRejectionMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		err        error
		code       int
		retryAfter string
	}{
		{"rate limited", rejection{429, 1500 * time.Millisecond}, 429, "2"},
		{"overload", rejection{503, 0}, 503, ""},
		{"wrapped", fmt.Errorf("layer: %w", rejection{503, 30 * time.Second}), 503, "30"},
		{"deadline", context.DeadlineExceeded, 503, ""},
		{"nonsense status", rejection{42, 0}, 500, ""},
		{"anything else", errors.New("db password is hunter2"), 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }), deny(tc.err))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			assert.False(t, called)
			assert.Equal(t, tc.code, w.Code)
			assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
			assert.Equal(t, http.StatusText(tc.code)+"\n", w.Body.String(), "the body names only the status")
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		})
	}
}

// The policies see a 5xx written by the handler as a failure, marked
// permanent, and the handler's own response stands.
func TestHandlerSeesServerErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []int{200, 204, 404, 429, 500, 503} {
		var got error
		spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			got = op(ctx)
			return got
		})
		h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code == 503 {
				w.Header().Set("Retry-After", "5")
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "from handler")
		}), spy)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, code, w.Code)
		if code != 204 {
			assert.Equal(t, "from handler", w.Body.String())
		}
		var se *resilience.StatusError
		if code >= 500 {
			require.ErrorAs(t, got, &se, "status %d", code)
			assert.Equal(t, code, se.Code)
			assert.Nil(t, se.Response)
			assert.True(t, resilience.IsPermanent(got))
			if code == 503 {
				assert.Equal(t, 5*time.Second, se.RetryAfter())
			}
		} else {
			assert.NoError(t, got, "status %d", code)
		}
	}
}

// A policy that runs the handler again after it responded gets an error
// and the handler is not run twice.
func TestHandlerNotRunTwice(t *testing.T) {
	t.Parallel()
	runs := 0
	h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		w.WriteHeader(500)
	}), retryN(3, 0), resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		return errors.Unwrap(err) // strip the permanent mark to tempt the retry
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, 1, runs)
	assert.Equal(t, 500, w.Code)
}

func TestHandlerPassesAttemptContext(t *testing.T) {
	t.Parallel()
	type k struct{}
	p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, k{}, "v"))
	})
	var seen any
	h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Context().Value(k{})
	}), p)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, "v", seen)
	assert.Equal(t, 200, w.Code)
}

// A handler that wrote nothing and succeeded is left to net/http's implicit
// 200; informational statuses do not commit the response.
func TestHandlerImplicitOKAndInformational(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hint" {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusInternalServerError)
		}
	})))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	resp, err := srv.Client().Get(srv.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	var got error
	srv2 := httptest.NewServer(resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusInternalServerError)
	}), resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		got = op(ctx)
		return got
	})))
	defer srv2.Close()
	defer srv2.Client().CloseIdleConnections()
	resp, err = srv2.Client().Get(srv2.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 500, resp.StatusCode)
	var se *resilience.StatusError
	require.ErrorAs(t, got, &se)
	assert.Equal(t, 500, se.Code)
}

// The wrapped ResponseWriter keeps flushing and hijacking working.
func TestHandlerFlushAndHijack(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flush" {
			_, _ = io.WriteString(w, "part1 ")
			require.NoError(t, http.NewResponseController(w).Flush())
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw ok")
		_ = rw.Flush()
	}), okPolicy()))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	resp, err := srv.Client().Get(srv.URL + "/flush")
	require.NoError(t, err)
	assert.Equal(t, "part1 part2", readClose(t, resp))

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, "raw ok", readClose(t, resp))
}

func okPolicy() resilience.Policy {
	return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
}

// A panicking handler's panic goes on to net/http; policies restore state.
func TestHandlerPanicPropagates(t *testing.T) {
	t.Parallel()
	inFlight := 0
	guard := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		inFlight++
		defer func() { inFlight-- }()
		return op(ctx)
	})
	h := resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), guard)
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})
	assert.Zero(t, inFlight)
}

func TestHandlerPassThrough(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	resilience.Handler(okHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, "hello", w.Body.String())
}

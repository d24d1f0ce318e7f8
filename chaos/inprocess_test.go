package chaos_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/chaos"
)

func TestInProcess(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	var got string
	rt := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		w.Header().Set("X-A", "1")
		w.WriteHeader(201)
		w.Header().Set("X-Late", "ignored") // too late: the status was sent
		_, _ = io.WriteString(w, "created")
	}))
	var closed atomic.Int64
	req, err := http.NewRequest("POST", "http://api.test:8080/v1/orders?x=1", requestBody(&closed))
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())

	assert.Equal(t, "POST", seen.Method)
	assert.Equal(t, "/v1/orders?x=1", seen.RequestURI)
	assert.Equal(t, "/v1/orders", seen.URL.Path)
	assert.Empty(t, seen.URL.Host)
	assert.Equal(t, "1", seen.URL.Query().Get("x"))
	assert.Equal(t, "api.test:8080", seen.Host)
	assert.NotEmpty(t, seen.RemoteAddr)
	assert.Equal(t, "request", got)
	assert.Equal(t, int64(1), closed.Load())

	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "201 Created", resp.Status)
	assert.Equal(t, "1", resp.Header.Get("X-A"))
	assert.Empty(t, resp.Header.Get("X-Late"))
	assert.Equal(t, "created", string(b))
	assert.Equal(t, int64(7), resp.ContentLength)
	assert.Same(t, req, resp.Request)
}

func TestInProcessDefaults(t *testing.T) {
	t.Parallel()
	rt := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		case "/flush":
			w.(http.Flusher).Flush()
		}
	}))
	tests := []struct{ method, path, ctype, body string }{
		{"GET", "/nothing", "", ""},
		{"GET", "/flush", "", ""},
		{"GET", "/html", "text/html; charset=utf-8", "<html><body>hi</body></html>"},
		{"HEAD", "/html", "text/html; charset=utf-8", ""},
		{"", "/html", "text/html; charset=utf-8", "<html><body>hi</body></html>"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://api.test"+tt.path, nil)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, tt.path)
		assert.Equal(t, tt.ctype, resp.Header.Get("Content-Type"), tt.path)
		assert.Equal(t, tt.body, string(b), tt.path)
	}
}

func TestInProcessAborts(t *testing.T) {
	t.Parallel()
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("z", 100))
	})
	rt := chaos.InProcess(chaos.Handler(api,
		chaos.Fault{Match: chaos.Path("/reset"), Action: chaos.ConnReset()},
		chaos.Fault{Match: chaos.Path("/cut"), Action: chaos.TruncateBody(10)},
		chaos.Fault{Match: chaos.Path("/bug"), Action: chaos.Panic("bug")},
	))
	var closed atomic.Int64
	req, _ := http.NewRequest("PUT", "http://api.test/reset", requestBody(&closed))
	_, err := rt.RoundTrip(req)
	require.ErrorIs(t, err, io.EOF, "what a client sees of a connection closed without an answer")
	assert.Equal(t, int64(1), closed.Load())

	req, _ = http.NewRequest("GET", "http://api.test/cut", nil)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, strings.Repeat("z", 10), string(b))
	require.NoError(t, resp.Body.Close())

	req, _ = http.NewRequest("PUT", "http://api.test/bug", requestBody(&closed))
	assert.PanicsWithValue(t, "bug", func() { _, _ = rt.RoundTrip(req) })
	assert.Equal(t, int64(2), closed.Load(), "the body is closed even when the handler panics")

	var noURL atomic.Int64
	_, err = rt.RoundTrip(&http.Request{Method: "GET", Body: requestBody(&noURL)})
	require.EqualError(t, err, "chaos: request has no URL")
	assert.Equal(t, int64(1), noURL.Load())
	assert.PanicsWithValue(t, "chaos: InProcess with a nil handler", func() { chaos.InProcess(nil) })
}

func TestInProcessVirtualTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		server := chaos.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
			chaos.Fault{Delay: chaos.Fixed(3 * time.Second)},
			chaos.Fault{Match: chaos.Path("/hang"), Action: chaos.Hang()})
		client := &http.Client{Transport: chaos.InProcess(server)}
		start := time.Now()
		resp, err := client.Get("http://api.test/")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, 3*time.Second, time.Since(start))

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/hang", nil)
		_, err = client.Do(req) //nolint:bodyclose // an error comes without a response
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 13*time.Second, time.Since(start))
	})
}

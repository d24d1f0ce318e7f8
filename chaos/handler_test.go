package chaos_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/chaos"
)

// hello is the handler under test: it writes payload, and counts its calls.
type hello struct {
	calls    int
	writeErr error
}

func (h *hello) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.calls++
	w.Header().Set("Content-Type", "text/plain")
	_, h.writeErr = io.WriteString(w, payload)
}

// limited is an error that a server answers with 429 and a wait.
type limited struct{ wait time.Duration }

func (limited) Error() string                   { return "limited" }
func (limited) HTTPStatus() int                 { return http.StatusTooManyRequests }
func (e limited) RetryAfter() time.Duration     { return e.wait }
func serve(h http.Handler, r *http.Request) any { return serveTo(h, httptest.NewRecorder(), r) }

// serveTo serves r and returns what ServeHTTP panicked with, if anything.
func serveTo(h http.Handler, w http.ResponseWriter, r *http.Request) (v any) {
	defer func() { v = recover() }()
	h.ServeHTTP(w, r)
	return nil
}

func TestHandlerAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action chaos.Action
		method string
		code   int
		header map[string]string
		body   string
	}{
		{"status", chaos.Status(503, "Retry-After", "3"), "GET", 503,
			map[string]string{"Retry-After": "3", "Content-Type": "text/plain; charset=utf-8"}, "503 Service Unavailable\n"},
		{"status head", chaos.Status(429), "HEAD", 429, nil, ""},
		{"error with status and wait", chaos.Error(limited{1500 * time.Millisecond}), "GET", 429,
			map[string]string{"Retry-After": "2"}, "429 Too Many Requests\n"},
		{"plain error", chaos.Error(chaos.ErrInjected), "GET", 500,
			map[string]string{"Retry-After": ""}, "500 Internal Server Error\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := &hello{}
			rec := &chaos.Recorder{}
			h := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{Action: tt.action}).Handler(next)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, "/orders", nil))
			assert.Zero(t, next.calls)
			assert.Equal(t, tt.code, w.Code)
			for k, v := range tt.header {
				assert.Equal(t, v, w.Header().Get(k), k)
			}
			assert.Equal(t, tt.body, w.Body.String())
			a := rec.Attempts()
			require.Len(t, a, 1)
			assert.Equal(t, tt.code, a[0].Status)
			assert.Equal(t, tt.method+" /orders", a[0].Method+" "+a[0].URL)
		})
	}
}

func TestHandlerAborts(t *testing.T) {
	t.Parallel()
	for _, a := range []chaos.Action{chaos.ConnReset(), chaos.ConnRefused(), chaos.EOF(), chaos.DialTimeout()} {
		t.Run(a.Kind().String(), func(t *testing.T) {
			t.Parallel()
			next := &hello{}
			rec := &chaos.Recorder{}
			h := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{Action: a}).Handler(next)
			assert.Equal(t, http.ErrAbortHandler, serve(h, httptest.NewRequest("GET", "/", nil)))
			assert.Zero(t, next.calls)
			require.Equal(t, 1, rec.Len())
			assert.True(t, rec.Attempts()[0].Panicked)
		})
	}
	h := chaos.Handler(&hello{}, chaos.Fault{Action: chaos.Panic("bug")})
	assert.Equal(t, "bug", serve(h, httptest.NewRequest("GET", "/", nil)))
}

func TestHandlerLatencyAndHang(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		next := &hello{}
		rec := &chaos.Recorder{}
		inj := chaos.New(chaos.Config{Recorder: rec},
			chaos.Fault{Match: chaos.Path("/slow"), Delay: chaos.Fixed(time.Second)},
			chaos.Fault{Match: chaos.Path("/hang"), Action: chaos.Hang()},
		)
		h := inj.Handler(next)

		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/slow", nil))
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, payload, w.Body.String())
		assert.Equal(t, 1, next.calls)

		// The client gives up while the delay runs: nothing is written.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", "/slow", nil))
		assert.False(t, w.Flushed)
		assert.Empty(t, w.Body.String())
		assert.Equal(t, 1, next.calls)

		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start = time.Now()
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", "/hang", nil))
		assert.Equal(t, 30*time.Second, time.Since(start))
		assert.Empty(t, w.Body.String())
		assert.Equal(t, 1, next.calls)

		a := rec.Attempts()
		require.Len(t, a, 3)
		assert.Equal(t, 200, a[0].Status)
		require.NoError(t, a[0].Err)
		assert.Zero(t, a[1].Status)
		require.ErrorIs(t, a[1].Err, context.DeadlineExceeded)
		assert.Equal(t, []chaos.Kind{chaos.KindHang}, a[2].Faults)
		require.ErrorIs(t, a[2].Err, context.DeadlineExceeded)
	})
}

func TestHandlerSlowBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := chaos.Handler(&hello{}, chaos.Fault{Action: chaos.SlowBody(5, 100*time.Millisecond)})
		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 400*time.Millisecond, time.Since(start), "18 bytes in 4 chunks of 5")
		assert.Equal(t, payload, w.Body.String())
		assert.True(t, w.Flushed, "each chunk is flushed")

		// The client goes away: the handler's write fails with the
		// context's error.
		next := &hello{}
		h = chaos.Handler(next, chaos.Fault{Action: chaos.SlowBody(5, time.Hour)})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "GET", "/", nil))
		require.ErrorIs(t, next.writeErr, context.DeadlineExceeded)
	})
}

func TestHandlerCutBody(t *testing.T) {
	t.Parallel()
	custom := errors.New("custom")
	tests := []struct {
		name    string
		action  chaos.Action
		body    string
		aborted bool
		check   func(t *testing.T, err error)
	}{
		{"truncate", chaos.TruncateBody(5), payload[:5], true, func(t *testing.T, err error) {
			require.ErrorIs(t, err, syscall.EPIPE)
		}},
		{"body error", chaos.BodyError(7, custom), payload[:7], true, func(t *testing.T, err error) {
			require.ErrorIs(t, err, custom)
		}},
		{"long enough", chaos.TruncateBody(100), payload, false, func(t *testing.T, err error) {
			require.NoError(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := &hello{}
			h := chaos.Handler(next, chaos.Fault{Action: tt.action})
			w := httptest.NewRecorder()
			v := serveTo(h, w, httptest.NewRequest("GET", "/", nil))
			if tt.aborted {
				assert.Equal(t, http.ErrAbortHandler, v)
				assert.True(t, w.Flushed, "what was let through is flushed before the abort")
			} else {
				assert.Nil(t, v)
			}
			assert.Equal(t, tt.body, w.Body.String())
			tt.check(t, next.writeErr)
		})
	}
}

// controlWriter is a ResponseWriter with the optional methods that
// http.ResponseController finds through Unwrap.
type controlWriter struct {
	*httptest.ResponseRecorder
	deadlines int
}

var errNoHijack = errors.New("no hijack here")

func (w *controlWriter) SetWriteDeadline(time.Time) error { w.deadlines++; return nil }
func (w *controlWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errNoHijack
}

func TestHandlerWriterInterfaces(t *testing.T) {
	t.Parallel()
	for _, a := range []chaos.Action{chaos.SlowBody(100, 0), chaos.TruncateBody(100), {}} {
		rec := &chaos.Recorder{}
		faults := []chaos.Fault{{Delay: chaos.Fixed(0)}}
		if a.Kind() != 0 {
			faults = append(faults, chaos.Fault{Action: a})
		}
		h := chaos.New(chaos.Config{Recorder: rec}, faults...).Handler(http.HandlerFunc(
			func(w http.ResponseWriter, _ *http.Request) {
				rc := http.NewResponseController(w)
				require.NoError(t, rc.SetWriteDeadline(time.Time{}))
				_, _, err := rc.Hijack()
				require.ErrorIs(t, err, errNoHijack)
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "a")
				_, _ = io.Copy(w, struct{ io.Reader }{strings.NewReader("b")}) // no WriteTo: ReadFrom is used
				require.NoError(t, rc.Flush())
			}))
		w := &controlWriter{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, "ab", w.Body.String(), a.Kind())
		assert.True(t, w.Flushed)
		assert.Equal(t, 1, w.deadlines, "ResponseController reaches the writer under the wrappers")
		assert.Equal(t, 200, rec.Attempts()[0].Status)
	}
}

// TestHandlerOverRealServer checks what a client sees of a server fault
// through real sockets (outside a synctest bubble).
func TestHandlerOverRealServer(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, strings.Repeat("z", 1000))
	})
	h := chaos.Handler(next,
		chaos.Fault{Match: chaos.Path("/reset"), Action: chaos.ConnReset()},
		chaos.Fault{Match: chaos.Path("/cut"), Action: chaos.TruncateBody(10)},
		chaos.Fault{Match: chaos.Path("/busy"), Action: chaos.Status(503, "Retry-After", "1")},
	)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		return client.Do(req)
	}

	_, err := get("/reset")
	require.Error(t, err, "an aborted response is a broken connection")
	require.ErrorIs(t, err, io.EOF)

	resp, err := get("/cut")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, strings.Repeat("z", 10), string(b))

	resp, err = get("/busy")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))

	resp, err = get("/ok")
	require.NoError(t, err)
	b, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	assert.Len(t, b, 1000)
}

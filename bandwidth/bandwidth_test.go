package bandwidth_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/bandwidth"
	"github.com/resiliencekit/resilience/ratelimit"
)

func TestReaderWriterPace(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("x"), 10_000)
	tests := []struct {
		name string
		copy func(ctx context.Context, l *ratelimit.Limiter, dst *bytes.Buffer) (int64, error)
	}{
		{"Reader", func(ctx context.Context, l *ratelimit.Limiter, dst *bytes.Buffer) (int64, error) {
			return io.Copy(dst, bandwidth.NewReader(ctx, bytes.NewReader(data), l))
		}},
		{"Writer", func(ctx context.Context, l *ratelimit.Limiter, dst *bytes.Buffer) (int64, error) {
			n, err := bandwidth.NewWriter(ctx, dst, l).Write(data)
			return int64(n), err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				// 1000 B/s with a burst of 1000: 10 kB take 9 s after the
				// first full bucket.
				l := ratelimit.New(1000, 1000, ratelimit.Config{})
				var dst bytes.Buffer
				start := time.Now()
				n, err := tt.copy(context.Background(), l, &dst)
				require.NoError(t, err)
				assert.Equal(t, int64(len(data)), n)
				assert.Equal(t, data, dst.Bytes())
				assert.InDelta(t, 9*time.Second, time.Since(start), float64(time.Second))

				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err = tt.copy(ctx, l, &dst)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		})
	}
}

func TestBandwidthInf(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(rate.Inf, 0, ratelimit.Config{})
	var dst bytes.Buffer
	n, err := io.Copy(bandwidth.NewWriter(context.Background(), &dst, l), bandwidth.NewReader(context.Background(), strings.NewReader("abc"), l))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	assert.Panics(t, func() { bandwidth.NewReader(context.Background(), nil, ratelimit.New(1, 0, ratelimit.Config{})) })
	assert.PanicsWithValue(t, "bandwidth: NewReader with a nil Limiter", func() { bandwidth.NewReader(context.Background(), strings.NewReader(""), nil) })
	assert.PanicsWithValue(t, "bandwidth: NewWriter with a nil Limiter", func() { bandwidth.NewWriter(context.Background(), &dst, nil) })
}

func TestHandler(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		in, out := ratelimit.New(100, 100, ratelimit.Config{}), ratelimit.New(200, 100, ratelimit.Config{})
		h := bandwidth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			assert.Len(t, body, 300)
			_, err = w.Write(bytes.Repeat([]byte("y"), 500))
			require.NoError(t, err)
			w.(http.Flusher).Flush()
			require.NoError(t, http.NewResponseController(w).Flush())
		}), in, out)
		r := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 300)))
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, r)
		// Reading 300 B at 100 B/s after a burst of 100: 2 s; writing 500 B
		// at 200 B/s after a burst of 100: 2 s.
		assert.Equal(t, 4*time.Second, time.Since(start))
		assert.Equal(t, 500, w.Body.Len())
		assert.True(t, w.Flushed)
	})
}

func TestTransport(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got []byte
		backend := rtFunc(func(r *http.Request) (*http.Response, error) {
			b, err := io.ReadAll(r.Body)
			got = b
			if err != nil {
				return nil, err
			}
			body, _ := r.GetBody()
			again, _ := io.ReadAll(body)
			assert.Equal(t, b, again, "GetBody is limited too and yields the same bytes")
			return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(make([]byte, 300)))}, nil
		})
		send, receive := ratelimit.New(100, 100, ratelimit.Config{}), ratelimit.New(100, 100, ratelimit.Config{})
		rt := bandwidth.Transport(backend, send, receive)
		req, err := http.NewRequest("POST", "http://x/", bytes.NewReader(make([]byte, 200)))
		require.NoError(t, err)
		orig := req.Body
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, orig, req.Body, "the caller's request is not modified")
		assert.Len(t, got, 200)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Len(t, b, 300)
		// Sending 200 B + the replay of 200 B at 100 B/s after a burst of 100:
		// 3 s; receiving 300 B after a burst of 100: 2 s.
		assert.Equal(t, 5*time.Second, time.Since(start))
	})
}

// TestTransportClosesIdleConnections: http.Client's
// CloseIdleConnections reaches the transport that Transport wraps,
// so the next request opens a new connection.
func TestTransportClosesIdleConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: bandwidth.Transport(tr, nil, ratelimit.New(1<<20, 64<<10, ratelimit.Config{}))}
	get := func() {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	get()
	get()
	assert.EqualValues(t, 1, conns.Load(), "the connection is reused")
	client.CloseIdleConnections()
	get()
	assert.EqualValues(t, 2, conns.Load(), "the idle connection was closed")
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

package chaos_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// send sends one request with a counted body through rt and reads and
// closes the response. It returns the response (body consumed), the body
// read, how many times the request body was closed, and the error of the
// round trip or of the read.
func send(t *testing.T, ctx context.Context, rt http.RoundTripper, method, url string) (*http.Response, string, int64, error) {
	t.Helper()
	var reqClosed atomic.Int64
	req, err := http.NewRequestWithContext(ctx, method, url, requestBody(&reqClosed))
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		require.Nil(t, resp)
		return nil, "", reqClosed.Load(), err
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp, string(b), reqClosed.Load(), err
}

func TestTransportActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action chaos.Action
		kind   chaos.Kind
		check  func(t *testing.T, resp *http.Response, body string, err error)
	}{
		{"error", chaos.Error(chaos.ErrInjected), chaos.KindError, func(t *testing.T, _ *http.Response, _ string, err error) {
			require.ErrorIs(t, err, chaos.ErrInjected)
		}},
		{"status", chaos.Status(503, "Retry-After", "2", "X-Why", "chaos"), chaos.KindStatus,
			func(t *testing.T, resp *http.Response, body string, err error) {
				require.NoError(t, err)
				assert.Equal(t, 503, resp.StatusCode)
				assert.Equal(t, "503 Service Unavailable", resp.Status)
				assert.Equal(t, "2", resp.Header.Get("Retry-After"))
				assert.Equal(t, "chaos", resp.Header.Get("X-Why"))
				assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
				assert.Equal(t, "503 Service Unavailable\n", body)
				assert.Equal(t, int64(len(body)), resp.ContentLength)
				assert.NotNil(t, resp.Request)
			}},
		{"status unknown code", chaos.Status(599, "Content-Type", "application/json"), chaos.KindStatus,
			func(t *testing.T, resp *http.Response, body string, err error) {
				require.NoError(t, err)
				assert.Equal(t, "599", resp.Status)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				assert.Equal(t, "599\n", body)
			}},
		{"conn reset", chaos.ConnReset(), chaos.KindConnReset, nil},
		{"conn refused", chaos.ConnRefused(), chaos.KindConnRefused, nil},
		{"eof", chaos.EOF(), chaos.KindEOF, nil},
		{"dial timeout", chaos.DialTimeout(), chaos.KindDialTimeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &tracker{}
			inj := chaos.Policy(chaos.Fault{Action: tt.action})
			resp, body, closed, err := send(t, context.Background(), inj.Transport(tr), "POST", "http://api.test/x")
			assert.Zero(t, tr.calls.Load(), "next must not be called")
			assert.Equal(t, int64(1), closed, "the request body is closed once")
			if tt.check != nil {
				tt.check(t, resp, body, err)
			} else {
				checkNetError(t, tt.kind, err)
			}
			assert.Equal(t, uint64(1), inj.Metrics().Injected[tt.kind])
		})
	}
}

func TestTransportStatusHead(t *testing.T) {
	t.Parallel()
	rt := chaos.Transport(&tracker{}, chaos.Fault{Action: chaos.Status(429, "Retry-After", "1")})
	resp, body, _, err := send(t, context.Background(), rt, "HEAD", "http://api.test/")
	require.NoError(t, err)
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, http.NoBody, resp.Body)
	assert.Empty(t, body)
}

func TestTransportPanic(t *testing.T) {
	t.Parallel()
	tr := &tracker{}
	rec := &chaos.Recorder{}
	rt := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{Action: chaos.Panic("bug")}).Transport(tr)
	var closed atomic.Int64
	req, err := http.NewRequest("PUT", "http://api.test/", requestBody(&closed))
	require.NoError(t, err)
	assert.PanicsWithValue(t, "bug", func() { _, _ = rt.RoundTrip(req) })
	assert.Equal(t, int64(1), closed.Load())
	assert.Zero(t, tr.calls.Load())
	require.Equal(t, 1, rec.Len())
	assert.True(t, rec.Attempts()[0].Panicked)
}

func TestTransportNetErrorAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, key, want string
		tcp            bool
	}{
		{"http://10.0.0.1:8080/x", "", "read tcp 10.0.0.1:8080: read: connection reset by peer", true},
		{"http://10.0.0.1/x", "", "read tcp 10.0.0.1:80: read: connection reset by peer", true},
		{"https://api.test/x", "", "read tcp api.test:443: read: connection reset by peer", false},
		{"https://api.test/x", "payments", "read tcp api.test:443: read: connection reset by peer", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.key != "" {
				ctx = resilience.WithKey(ctx, tt.key)
			}
			_, _, _, err := send(t, ctx, chaos.Transport(&tracker{}, chaos.Fault{Action: chaos.ConnReset()}), "GET", tt.url)
			require.EqualError(t, err, tt.want)
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			_, isTCP := op.Addr.(*net.TCPAddr)
			assert.Equal(t, tt.tcp, isTCP)
			assert.Equal(t, "tcp", op.Addr.Network())
		})
	}
	// Through Do, the address is the key, or none.
	err := chaos.Policy(chaos.Fault{Action: chaos.ConnRefused()}).Do(context.Background(), func(context.Context) error { return nil })
	require.EqualError(t, err, "dial tcp: connect: connection refused")
	err = chaos.Policy(chaos.Fault{Action: chaos.DialTimeout()}).Do(resilience.WithKey(context.Background(), "db:5432"),
		func(context.Context) error { return nil })
	require.EqualError(t, err, "dial tcp db:5432: i/o timeout")
}

func TestTransportPassThrough(t *testing.T) {
	t.Parallel()
	tr := &tracker{}
	inj := chaos.Policy(chaos.Fault{Match: chaos.Path("/never"), Action: chaos.EOF()})
	resp, body, closed, err := send(t, context.Background(), inj.Transport(tr), "POST", "http://api.test/x")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, payload, body)
	assert.Equal(t, int64(1), closed)
	assert.Equal(t, int64(1), tr.calls.Load())
	assert.Equal(t, tr.respOpened.Load(), tr.respClosed.Load())
	assert.Zero(t, inj.Metrics().Injected[chaos.KindEOF])

	// A nil next is http.DefaultTransport: a fault that ends the call never
	// reaches it.
	_, _, _, err = send(t, context.Background(), chaos.Transport(nil, chaos.Fault{Action: chaos.EOF()}), "GET", "http://api.test/")
	require.ErrorIs(t, err, io.EOF)
}

func TestTransportLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &tracker{}
		rt := chaos.Transport(tr, chaos.Fault{Delay: chaos.Fixed(2 * time.Second)})
		start := time.Now()
		resp, body, closed, err := send(t, context.Background(), rt, "GET", "http://api.test/")
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start))
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, payload, body)
		assert.Equal(t, int64(1), closed)

		// Cancelled while waiting: the context's error at once, the request
		// body closed, next not called.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, _, closed, err = send(t, ctx, rt, "GET", "http://api.test/")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 500*time.Millisecond, time.Since(start))
		assert.Equal(t, int64(1), closed)
		assert.Equal(t, int64(1), tr.calls.Load())
	})
}

func TestTransportHang(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &tracker{}
		rt := chaos.Transport(tr, chaos.Fault{Action: chaos.Hang()})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Minute, cancel)
		start := time.Now()
		_, _, closed, err := send(t, ctx, rt, "GET", "http://api.test/")
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, time.Minute, time.Since(start))
		assert.Equal(t, int64(1), closed)
		assert.Zero(t, tr.calls.Load())
	})
}

func TestTransportSlowBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &tracker{}
		rt := chaos.Transport(tr, chaos.Fault{Action: chaos.SlowBody(5, 100*time.Millisecond)})
		start := time.Now()
		resp, body, _, err := send(t, context.Background(), rt, "GET", "http://api.test/")
		require.NoError(t, err)
		assert.Equal(t, payload, body, "a slow body is complete")
		// 18 bytes in chunks of 5: 4 reads of data, then one that sees EOF.
		assert.Equal(t, 500*time.Millisecond, time.Since(start))
		assert.Equal(t, int64(len(payload)), resp.ContentLength)
		assert.Equal(t, int64(1), tr.respClosed.Load(), "closing the slow body closes the real one")
	})
}

func TestTransportSlowBodyStops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &tracker{}
		rt := chaos.Transport(tr, chaos.Fault{Action: chaos.SlowBody(1, time.Hour)})

		// The request's context ends a pause.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, resp.Body.Close())

		// Closing the body ends a pause in another goroutine.
		req, _ = http.NewRequest("GET", "http://api.test/", nil)
		resp, err = rt.RoundTrip(req)
		require.NoError(t, err)
		done := make(chan error)
		go func() {
			_, err := resp.Body.Read(make([]byte, 8))
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, resp.Body.Close())
		require.EqualError(t, <-done, "chaos: read on closed response body")
		n, err := resp.Body.Read(make([]byte, 8))
		assert.Zero(t, n)
		require.Error(t, err)
		assert.Equal(t, int64(2), tr.respClosed.Load())
	})
}

func TestTransportSlowBodyNoPause(t *testing.T) {
	t.Parallel()
	rt := chaos.Transport(&tracker{}, chaos.Fault{Action: chaos.SlowBody(4, 0)})
	req, _ := http.NewRequest("GET", "http://api.test/", nil)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "at most one chunk per read")
	n, err = resp.Body.Read(buf[:0])
	assert.Zero(t, n)
	require.NoError(t, err)
}

func TestTransportCutBodies(t *testing.T) {
	t.Parallel()
	custom := errors.New("custom")
	tests := []struct {
		name    string
		action  chaos.Action
		want    string
		wantErr func(t *testing.T, err error)
	}{
		{"truncate", chaos.TruncateBody(5), payload[:5], func(t *testing.T, err error) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		}},
		{"truncate at zero", chaos.TruncateBody(0), "", func(t *testing.T, err error) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		}},
		{"truncate exactly the length", chaos.TruncateBody(int64(len(payload))), payload, func(t *testing.T, err error) {
			require.NoError(t, err)
		}},
		{"truncate past the length", chaos.TruncateBody(1000), payload, func(t *testing.T, err error) {
			require.NoError(t, err)
		}},
		{"reset mid-body", chaos.BodyError(7, nil), payload[:7], func(t *testing.T, err error) {
			require.ErrorIs(t, err, syscall.ECONNRESET)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
		}},
		{"custom error mid-body", chaos.BodyError(3, custom), payload[:3], func(t *testing.T, err error) {
			require.ErrorIs(t, err, custom)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &tracker{}
			inj := chaos.Policy(chaos.Fault{Action: tt.action})
			_, body, closed, err := send(t, context.Background(), inj.Transport(tr), "GET", "http://api.test/")
			assert.Equal(t, tt.want, body)
			tt.wantErr(t, err)
			assert.Equal(t, int64(1), closed)
			assert.Equal(t, int64(1), tr.calls.Load())
			assert.Equal(t, int64(1), tr.respClosed.Load(), "the real body is closed")
			assert.Equal(t, uint64(1), inj.Metrics().Injected[tt.action.Kind()])
		})
	}
}

func TestTransportBodyFaultsCombine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &tracker{}
		rec := &chaos.Recorder{}
		inj := chaos.New(chaos.Config{Recorder: rec},
			chaos.Fault{Delay: chaos.Fixed(time.Second), Action: chaos.SlowBody(2, 10*time.Millisecond)},
			chaos.Fault{Action: chaos.TruncateBody(6)},
		)
		start := time.Now()
		_, body, _, err := send(t, context.Background(), inj.Transport(tr), "GET", "http://api.test/")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, payload[:6], body)
		// Three slow chunks of 2 bytes, and one more pause for the read that
		// finds the cut.
		assert.Equal(t, time.Second+4*10*time.Millisecond, time.Since(start))
		a := rec.Attempts()
		require.Len(t, a, 1)
		assert.Equal(t, []chaos.Kind{chaos.KindLatency, chaos.KindSlowBody, chaos.KindTruncateBody}, a[0].Faults)
		assert.Equal(t, 200, a[0].Status)
	})
}

func TestTransportBodyFaultsSkipped(t *testing.T) {
	t.Parallel()
	// Errors, responses without a body and protocol switches are left as
	// they are.
	inj := chaos.Policy(chaos.Fault{Action: chaos.TruncateBody(0)})
	boom := errors.New("boom")
	rt := inj.Transport(rtFunc(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Path {
		case "/err":
			return nil, boom
		case "/nobody":
			return &http.Response{StatusCode: 204, Body: http.NoBody}, nil
		default:
			return &http.Response{StatusCode: 101, Body: io.NopCloser(strings.NewReader("x"))}, nil
		}
	}))
	_, _, _, err := send(t, context.Background(), rt, "GET", "http://api.test/err")
	require.ErrorIs(t, err, boom)
	resp, _, _, err := send(t, context.Background(), rt, "GET", "http://api.test/nobody")
	require.NoError(t, err)
	assert.Equal(t, http.NoBody, resp.Body)
	_, body, _, err := send(t, context.Background(), rt, "GET", "http://api.test/upgrade")
	require.NoError(t, err)
	assert.Equal(t, "x", body)
}

// TestTransportBodiesClosedUnderRetries runs chaos under
// resilience.Transport with a retry policy and counts every body: each
// response the real dependency opened is closed, and each request body is
// closed exactly once per attempt.
func TestTransportBodiesClosedUnderRetries(t *testing.T) {
	t.Parallel()
	scripts := []struct {
		name   string
		faults []chaos.Fault
	}{
		{"statuses", []chaos.Fault{{When: chaos.First(3), Action: chaos.Status(503)}}},
		{"errors", []chaos.Fault{{When: chaos.Script("x.x"), Action: chaos.ConnReset()}}},
		{"real 503s then truncation", []chaos.Fault{{When: chaos.Rate(0.5, 3), Action: chaos.TruncateBody(3)}}},
		{"mixed", []chaos.Fault{
			{When: chaos.Cycle("x..."), Action: chaos.Status(429)},
			{When: chaos.Cycle("x.."), Action: chaos.EOF()},
			{When: chaos.Rate(0.3, 1), Action: chaos.BodyError(2, nil)},
		}},
	}
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			tr := &tracker{status: 0}
			if sc.name == "real 503s then truncation" {
				tr.status = 503
			}
			attempts := 0
			retry := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				var err error
				for range 4 {
					attempts++
					if err = op(ctx); err == nil {
						return nil
					}
				}
				return err
			})
			var reqClosed atomic.Int64
			rt := resilience.Transport(chaos.Transport(tr, sc.faults...), retry)
			for range 20 {
				req, err := http.NewRequest("PUT", "http://api.test/", requestBody(&reqClosed))
				require.NoError(t, err)
				resp, err := rt.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					require.NoError(t, resp.Body.Close())
				}
			}
			assert.Equal(t, tr.respOpened.Load(), tr.respClosed.Load(), "every real response body is closed")
			assert.Equal(t, int64(20), reqClosed.Load(), "every caller's request body is closed")
			assert.Positive(t, tr.calls.Load())
		})
	}
}

func TestTransportKey(t *testing.T) {
	t.Parallel()
	var keys []string
	inj := chaos.New(chaos.Config{OnInject: func(_ context.Context, _ chaos.Kind, c chaos.Call) { keys = append(keys, c.Key) }},
		chaos.Fault{Match: chaos.Key("api.test", "payments"), Action: chaos.Status(503)})
	rt := inj.Transport(&tracker{})
	resp, _, _, err := send(t, context.Background(), rt, "GET", "http://api.test/")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	resp, _, _, err = send(t, resilience.WithKey(context.Background(), "payments"), rt, "GET", "http://other.test/")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	resp, _, _, err = send(t, context.Background(), rt, "GET", "http://other.test/")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, []string{"api.test", "payments"}, keys)
}

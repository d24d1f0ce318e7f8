package resilience_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
)

// keyRecorder is a keyed policy: it records the key of every call, as a
// Group does to pick its instance.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) Do(ctx context.Context, op func(context.Context) error) error {
	k.mu.Lock()
	k.keys = append(k.keys, resilience.KeyFrom(ctx))
	k.mu.Unlock()
	return op(ctx)
}

func serve(t *testing.T, h http.Handler, remote string, hdr http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for k, v := range hdr {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Point 3: Handler keys requests by client, so the keyed policies under it
// keep one instance per client instead of one for everybody.
func TestHandlerKeysRequestsByClientIP(t *testing.T) {
	t.Parallel()
	rec := &keyRecorder{}
	h := resilience.Handler(okHandler(), rec)
	for _, remote := range []string{"192.0.2.1:1000", "192.0.2.2:1000", "192.0.2.3:1000", "[2001:db8:1:2::7]:80"} {
		serve(t, h, remote, nil)
	}
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8:1:2::/64"}, rec.keys)
}

func TestHandlerKeyConfig(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name   string
		key    httpkey.Func
		remote string
		hdr    http.Header
		want   string
	}{
		{"trusted proxy", httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: proxies}), "10.1.2.3:80",
			http.Header{"X-Forwarded-For": {"198.51.100.9"}}, "198.51.100.9"},
		{"untrusted peer's header is ignored", httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: proxies}), "203.0.113.4:80",
			http.Header{"X-Forwarded-For": {"198.51.100.9"}}, "203.0.113.4"},
		{"header", httpkey.Header("X-Api-Key", nil), "203.0.113.4:80", http.Header{"X-Api-Key": {"k1"}}, "x-api-key:k1"},
		{"func", func(r *http.Request) string { return "tenant-" + r.URL.Path }, "203.0.113.4:80", nil, "tenant-/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &keyRecorder{}
			h := resilience.NewHandler(okHandler(), resilience.HandlerConfig{Key: tc.key}, rec)
			serve(t, h, tc.remote, tc.hdr)
			assert.Equal(t, []string{tc.want}, rec.keys)
		})
	}
}

func TestHandlerKeepsKeySetByOuterMiddleware(t *testing.T) {
	t.Parallel()
	rec := &keyRecorder{}
	inner := resilience.Handler(okHandler(), rec)
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(resilience.WithKey(r.Context(), "set-outside")))
	})
	serve(t, outer, "192.0.2.1:1000", nil)
	assert.Equal(t, []string{"set-outside"}, rec.keys)
}

// Policies under Handler see the request being served and may set headers
// of the response (a rate limiter's RateLimit fields).
func TestHandlerGivesPoliciesRequestAndResponseHeader(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		seen = resilience.RequestFrom(ctx)
		resilience.ResponseHeader(ctx).Set("X-Policy", "was here")
		return op(ctx)
	})
	w := serve(t, resilience.Handler(okHandler(), p), "192.0.2.1:1", nil)
	require.NotNil(t, seen)
	assert.Equal(t, "/", seen.URL.Path)
	assert.Equal(t, "was here", w.Header().Get("X-Policy"))
	assert.Nil(t, resilience.RequestFrom(context.Background()))
	assert.Nil(t, resilience.ResponseHeader(context.Background()))
}

func TestHandlerCustomRejection(t *testing.T) {
	t.Parallel()
	h := resilience.NewHandler(okHandler(), resilience.HandlerConfig{
		Reject: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"title":"slow down"}`)
		},
	}, deny(rejection{status: 429, wait: 2 * time.Second}))
	w := serve(t, h, "192.0.2.1:1", nil)
	assert.Equal(t, 429, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"), "set before Reject runs")
	assert.Equal(t, `{"title":"slow down"}`, w.Body.String())
}

// countingBreaker counts failures the way a breaker would, ignoring calls
// that end with an error matching context.Canceled.
type countingBreaker struct{ failures, panics atomic.Int32 }

func (c *countingBreaker) Do(ctx context.Context, op func(context.Context) error) (err error) {
	ok := false
	defer func() {
		if !ok {
			c.panics.Add(1)
		}
	}()
	err = op(ctx)
	ok = true
	if err != nil && !errors.Is(err, context.Canceled) {
		c.failures.Add(1)
	}
	return err
}

// Point 4: a handler that aborts with http.ErrAbortHandler (the client went
// away) is the caller's doing: the policies see an error matching
// context.Canceled, not a panic, and net/http still gets its panic.
func TestHandlerAbortIsNotAFailure(t *testing.T) {
	t.Parallel()
	b := &countingBreaker{}
	h := resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}), b)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	require.PanicsWithValue(t, http.ErrAbortHandler, func() { h.ServeHTTP(httptest.NewRecorder(), r) })
	assert.Equal(t, int32(0), b.panics.Load(), "the policies saw a panic")
	assert.Equal(t, int32(0), b.failures.Load())

	// Any other panic still reaches the policies as a panic.
	h = resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), b)
	require.PanicsWithValue(t, "boom", func() { h.ServeHTTP(httptest.NewRecorder(), r) })
	assert.Equal(t, int32(1), b.panics.Load())
}

// Point 9: bad input fails at construction.
func TestConstructionPanicsOnNilInput(t *testing.T) {
	t.Parallel()
	var typedNil *keyRecorder
	var nilFunc resilience.PolicyFunc
	var nilRT *http.Transport
	for name, f := range map[string]func(){
		"Chain typed nil":        func() { resilience.Chain(typedNil) },
		"Chain nil PolicyFunc":   func() { resilience.Chain(nilFunc) },
		"Transport typed nil":    func() { resilience.Transport(nil, &keyRecorder{}, typedNil) },
		"Transport typed nil RT": func() { resilience.Transport(nilRT) },
		"Handler typed nil":      func() { resilience.Handler(okHandler(), typedNil) },
		"Handler nil handler":    func() { resilience.Handler(nil) },
		"Handler nil HandlerFunc": func() {
			var hf http.HandlerFunc
			resilience.Handler(hf)
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				v := recover()
				require.NotNil(t, v, "no panic")
				assert.Contains(t, v, "resilience: ")
			}()
			f()
		})
	}
	// An untyped nil is still skipped, as documented.
	assert.NotPanics(t, func() { resilience.Chain(nil, &keyRecorder{}, nil) })
}

// Point 6: CloseIdleConnections reaches the wrapped transport.
func TestTransportForwardsCloseIdleConnections(t *testing.T) {
	t.Parallel()
	var open atomic.Int32
	srv := httptest.NewUnstartedServer(okHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: resilience.Transport(&http.Transport{}, &keyRecorder{})}
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	readClose(t, resp)
	require.Eventually(t, func() bool { return open.Load() == 1 }, 10*time.Second, time.Millisecond)
	client.CloseIdleConnections()
	require.Eventually(t, func() bool { return open.Load() == 0 }, 10*time.Second, time.Millisecond,
		"the idle connection stayed open")
}

// endless is a response body that never ends, or trickles one byte per
// period.
type endless struct {
	period time.Duration // 0: a byte at once, forever; >0: one byte per period
	closed chan struct{}
	once   sync.Once
}

func (b *endless) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.period > 0 {
		select {
		case <-time.After(b.period):
		case <-b.closed:
			return 0, errors.New("read on closed body")
		}
	} else {
		select {
		case <-b.closed:
			return 0, errors.New("read on closed body")
		default:
		}
	}
	p[0] = 'x'
	return 1, nil
}

func (b *endless) Close() error { b.once.Do(func() { close(b.closed) }); return nil }

// slowRT answers 503 with a body that never ends, then 200.
type slowRT struct {
	period time.Duration
	n      atomic.Int32
}

func (s *slowRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.n.Add(1) == 1 {
		return &http.Response{StatusCode: 503, Header: http.Header{}, Request: req,
			Body: &endless{period: s.period, closed: make(chan struct{})}}, nil
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Request: req, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// Point 5: a discarded response body is drained within a bound of bytes and
// of time; a slow one is closed instead.
func TestTransportDrainIsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		period time.Duration
	}{
		{"endless body", 0},
		{"trickle", 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rt := &slowRT{period: tc.period}
				client := &http.Client{Transport: resilience.Transport(rt, retryN(2, 0))}
				start := time.Now()
				resp, err := client.Get("http://dep.test/")
				require.NoError(t, err)
				assert.Equal(t, "ok", readClose(t, resp))
				assert.LessOrEqual(t, time.Since(start), time.Second, "the drain took too long")
			})
		})
	}
}

// Point 11: which responses fail, and where Retry-After counts, are
// configurable; the defaults stay.
func TestTransportClassificationIsConfigurable(t *testing.T) {
	t.Parallel()
	sawWait := func(cfg resilience.TransportConfig, code int, ra string) (failed bool, wait time.Duration) {
		rt := &fakeRT{statuses: []int{code}, headers: []http.Header{{"Retry-After": {ra}}}}
		p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			err := op(ctx)
			var se *resilience.StatusError
			if errors.As(err, &se) {
				failed, wait = true, se.Wait
			}
			return err
		})
		resp, err := resilience.NewTransport(rt, cfg, p).RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
		require.NoError(t, err)
		resp.Body.Close()
		return failed, wait
	}
	def := resilience.TransportConfig{}
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		failed, _ := sawWait(def, code, "")
		assert.True(t, failed, "%d fails by default", code)
	}
	for _, code := range []int{200, 404, 501, 507} {
		failed, _ := sawWait(def, code, "")
		assert.False(t, failed, "%d does not fail by default", code)
	}
	_, w := sawWait(def, 503, "7")
	assert.Equal(t, 7*time.Second, w)
	_, w = sawWait(def, 429, "7")
	assert.Equal(t, 7*time.Second, w)
	_, w = sawWait(def, 500, "7")
	assert.Zero(t, w, "Retry-After is honoured on 429 and 503 by default")

	custom := resilience.TransportConfig{
		Failure: func(r *http.Response) bool {
			return r.StatusCode == 507 || r.StatusCode != 500 && resilience.DefaultFailure(r)
		},
		HonorRetryAfter: func(r *http.Response) bool { return true },
	}
	failed, _ := sawWait(custom, 507, "")
	assert.True(t, failed)
	failed, _ = sawWait(custom, 500, "")
	assert.False(t, failed)
	_, w = sawWait(custom, 502, "3")
	assert.Equal(t, 3*time.Second, w)
}

// Point 13: RFC 850 dates with two-digit years follow RFC 9110 section
// 5.6.7: a year more than 50 years in the future is in the past century.
func TestParseRetryAfterRFC850Century(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d, ok := resilience.ParseRetryAfter("Tuesday, 01-Dec-26 12:00:30 GMT", now)
	require.True(t, ok)
	assert.Equal(t, 30*time.Second, d)
	// "70" read by time.Parse is 1970; fifty-year rule: 2070 is 44 years
	// ahead, not more than 50, so 2070 (capped at MaxRetryAfter).
	d, ok = resilience.ParseRetryAfter("Monday, 01-Dec-70 12:00:00 GMT", now)
	require.True(t, ok)
	assert.Equal(t, resilience.MaxRetryAfter, d)
	// "80": 2080 is 54 years ahead, more than 50: it is 1980, in the past.
	d, ok = resilience.ParseRetryAfter("Sunday, 01-Dec-80 12:00:00 GMT", now)
	require.True(t, ok)
	assert.Zero(t, d)
}

// Point 5 against a real server: a 503 whose body trickles forever is
// closed after the drain's time bound, over a real connection, and the
// retry goes on.
func TestTransportDrainIsBoundedOverTCP(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			_, _ = io.WriteString(w, "ok")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		for {
			if _, err := io.WriteString(w, "x"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: resilience.Transport(srv.Client().Transport, retryN(2, 0))}
	done := make(chan string, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	select {
	case got := <-done:
		assert.Equal(t, "ok", got)
	case <-time.After(30 * time.Second): // generous bound on failure; expected ~100 ms
		t.Fatal("the retry is stuck draining the trickling body")
	}
}

type policyCause struct{}

func (policyCause) Error() string        { return "a policy's time limit" }
func (policyCause) PolicyDeadline() bool { return true }

func TestCallerDone(t *testing.T) {
	t.Parallel()
	assert.False(t, resilience.CallerDone(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.True(t, resilience.CallerDone(ctx), "cancelled by the caller")
	ctx, cancel = context.WithTimeout(context.Background(), 0)
	defer cancel()
	assert.True(t, resilience.CallerDone(ctx), "the caller's deadline")
	ctx, cancel = context.WithTimeoutCause(context.Background(), 0, policyCause{})
	defer cancel()
	assert.False(t, resilience.CallerDone(ctx), "a policy's time limit")
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	assert.False(t, resilience.CallerDone(child), "derived from a policy's expired limit")
}

// A policy under Handler that sets a key of its own keeps the request and
// the response header visible to the policies inside it.
func TestWithKeyUnderHandlerKeepsRequest(t *testing.T) {
	t.Parallel()
	var key string
	var req *http.Request
	var hdr http.Header
	rekey := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(resilience.WithKey(ctx, "tenant-7"))
	})
	look := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		key, req, hdr = resilience.KeyFrom(ctx), resilience.RequestFrom(ctx), resilience.ResponseHeader(ctx)
		return op(ctx)
	})
	serve(t, resilience.Handler(okHandler(), rekey, look), "192.0.2.1:1", nil)
	assert.Equal(t, "tenant-7", key)
	assert.NotNil(t, req)
	assert.NotNil(t, hdr)
}

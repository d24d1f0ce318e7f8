package resilience_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

// fakeRT answers with a scripted status per attempt and counts the response
// bodies it hands out and those closed, and the request bodies it receives.
type fakeRT struct {
	mu       sync.Mutex
	statuses []int         // status per attempt; the last repeats
	headers  []http.Header // optional headers per attempt
	err      error         // returned instead of a response when set
	bodies   []string      // request bodies received
	keys     []string      // resilience.KeyFrom of each attempt
	opened   atomic.Int32  // response bodies handed out
	closed   atomic.Int32  // response bodies closed
	reqs     []*http.Request
}

type countedBody struct {
	io.Reader
	rt     *fakeRT
	closed atomic.Bool
}

func (b *countedBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.rt.closed.Add(1)
	}
	return nil
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	n := len(f.bodies)
	var body string
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		body = string(b)
	}
	f.bodies = append(f.bodies, body)
	f.keys = append(f.keys, resilience.KeyFrom(req.Context()))
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	code := f.statuses[min(n, len(f.statuses)-1)]
	h := http.Header{}
	if n < len(f.headers) && f.headers[n] != nil {
		h = f.headers[n].Clone()
	}
	f.opened.Add(1)
	return &http.Response{
		StatusCode: code,
		Status:     strconv.Itoa(code) + " " + http.StatusText(code),
		Header:     h,
		Body:       &countedBody{Reader: strings.NewReader("attempt " + strconv.Itoa(n+1)), rt: f},
		Request:    req,
	}, nil
}

func (f *fakeRT) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func readClose(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

func TestTransportRetriesAndReturnsSuccess(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503, 502, 200}}
	c := &http.Client{Transport: resilience.Transport(rt, retryN(5, 0))}
	resp, err := c.Get("http://api.example/items")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "attempt 3", readClose(t, resp))
	assert.Equal(t, 3, rt.attempts())
	assert.Equal(t, rt.opened.Load(), rt.closed.Load(), "every response body closed")
	assert.Equal(t, []string{"api.example", "api.example", "api.example"}, rt.keys)
}

// When the policies give up on a status error, the caller gets the last
// response with a nil error, body unread.
func TestTransportFinalStatusIsAResponse(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{500, 503}, headers: []http.Header{nil, {"Retry-After": {"7"}}}}
	var seen []*resilience.StatusError
	spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		var se *resilience.StatusError
		if errors.As(err, &se) {
			seen = append(seen, se)
		}
		return err
	})
	c := &http.Client{Transport: resilience.Transport(rt, retryN(2, 0), spy)}
	resp, err := c.Get("http://api.example/")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "7", resp.Header.Get("Retry-After"))
	assert.Equal(t, "attempt 2", readClose(t, resp))
	require.Len(t, seen, 2)
	assert.Equal(t, 500, seen[0].Code)
	assert.Zero(t, seen[0].RetryAfter())
	assert.Equal(t, 503, seen[1].Code)
	assert.Equal(t, 7*time.Second, seen[1].RetryAfter())
	d, ok := resilience.RetryAfter(seen[1])
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	assert.Equal(t, rt.opened.Load(), rt.closed.Load())
}

func TestTransportStatusClassification(t *testing.T) {
	t.Parallel()
	for _, code := range []int{200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 429, 500, 501, 502, 503, 504, 505} {
		rt := &fakeRT{statuses: []int{code}}
		var got error
		spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			got = op(ctx)
			return got
		})
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		resp, err := resilience.Transport(rt, spy).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, code, resp.StatusCode)
		resp.Body.Close()
		retryable := code == 408 || code == 429 || code == 500 || code == 502 || code == 503 || code == 504
		var se *resilience.StatusError
		assert.Equal(t, retryable, errors.As(got, &se), "status %d", code)
		if retryable {
			assert.Equal(t, code, se.Code)
			assert.Same(t, resp, se.Response)
		}
	}
}

func TestTransportBodyReplayWithGetBody(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503, 503, 200}}
	c := &http.Client{Transport: resilience.Transport(rt, retryN(3, 0))}
	resp, err := c.Post("http://x/", "text/plain", strings.NewReader("payload"))
	require.NoError(t, err)
	// POST is not idempotent: one attempt only, the 503 comes back.
	assert.Equal(t, 503, resp.StatusCode)
	resp.Body.Close()
	assert.Equal(t, []string{"payload"}, rt.bodies)

	rt2 := &fakeRT{statuses: []int{503, 503, 200}}
	req, _ := http.NewRequest(http.MethodPut, "http://x/", strings.NewReader("payload"))
	require.NotNil(t, req.GetBody)
	resp, err = resilience.Transport(rt2, retryN(3, 0)).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	resp.Body.Close()
	assert.Equal(t, []string{"payload", "payload", "payload"}, rt2.bodies)
}

// oneShot is a request body without GetBody that records whether it was closed.
type oneShot struct {
	io.Reader
	closed atomic.Bool
}

func (b *oneShot) Close() error { b.closed.Store(true); return nil }

func TestTransportBuffersBodyWithoutGetBody(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{500, 200}}
	body := &oneShot{Reader: strings.NewReader("small body")}
	req, _ := http.NewRequest(http.MethodPut, "http://x/", body)
	require.Nil(t, req.GetBody)
	resp, err := resilience.Transport(rt, retryN(3, 0)).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"small body", "small body"}, rt.bodies)
	assert.True(t, body.closed.Load(), "the caller's body is closed")
	assert.Nil(t, req.GetBody, "the caller's request is not modified")
}

func TestTransportLargeBodyWithoutGetBodyGetsOneAttempt(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), resilience.MaxReplayBody+10)
	rt := &fakeRT{statuses: []int{503, 200}}
	body := &oneShot{Reader: bytes.NewReader(big)}
	req, _ := http.NewRequest(http.MethodPut, "http://x/", body)
	var errs []error
	spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for i := 0; i < 3; i++ { // a policy that retries regardless
			err = op(ctx)
			errs = append(errs, err)
		}
		return err
	})
	resp, err := resilience.Transport(rt, spy).RoundTrip(req)
	require.Error(t, err)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, resilience.ErrBodyNotReplayable)
	require.Len(t, rt.bodies, 1, "the body is sent once")
	assert.Equal(t, len(big), len(rt.bodies[0]), "the whole body is sent, not only the buffered prefix")
	require.Len(t, errs, 3)
	assert.True(t, resilience.IsPermanent(errs[0]), "the first failure is permanent, so retries stop")
	assert.True(t, body.closed.Load())
	assert.Equal(t, rt.opened.Load(), rt.closed.Load())
}

func TestTransportNonIdempotentIsPermanent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, key string
		permanent   bool
	}{
		{http.MethodGet, "", false},
		{http.MethodHead, "", false},
		{http.MethodPut, "", false},
		{http.MethodDelete, "", false},
		{http.MethodOptions, "", false},
		{http.MethodPost, "", true},
		{http.MethodPatch, "", true},
		{http.MethodConnect, "", true},
		{"PROPPATCH", "", true},
		{http.MethodPost, "Idempotency-Key", false},
		{http.MethodPatch, "X-Idempotency-Key", false},
	} {
		rt := &fakeRT{err: errors.New("connection reset")}
		req, _ := http.NewRequest(tc.method, "http://x/", nil)
		if tc.key != "" {
			req.Header.Set(tc.key, "abc")
		}
		var got error
		spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			got = op(ctx)
			return got
		})
		_, err := resilience.Transport(rt, spy).RoundTrip(req)
		require.Error(t, err)
		assert.Equal(t, tc.permanent, resilience.IsPermanent(got), "%s %s", tc.method, tc.key)
		assert.ErrorIs(t, err, rt.err)
	}
}

func TestTransportRejectionClosesRequestBody(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{200}}
	reject := errors.New("rejected")
	deny := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return reject })
	body := &oneShot{Reader: strings.NewReader("b")}
	req, _ := http.NewRequest(http.MethodPut, "http://x/", body)
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("b")), nil }
	resp, err := resilience.Transport(rt, deny).RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, reject)
	assert.True(t, body.closed.Load())
	assert.Zero(t, rt.attempts())
}

// A policy that rejects after an attempt already produced a response: the
// response is discarded and closed, and the rejection returned.
func TestTransportRejectionAfterAttemptClosesResponse(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503}}
	reject := errors.New("breaker open")
	p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = op(ctx)
		return reject
	})
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	resp, err := resilience.Transport(rt, p).RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, reject)
	assert.EqualValues(t, 1, rt.opened.Load())
	assert.EqualValues(t, 1, rt.closed.Load())
}

func TestTransportSuccessWithoutAttemptIsAnError(t *testing.T) {
	t.Parallel()
	skip := resilience.PolicyFunc(func(context.Context, func(context.Context) error) error { return nil })
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	resp, err := resilience.Transport(&fakeRT{statuses: []int{200}}, skip).RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorContains(t, err, "without sending the request")
}

func TestTransportKeepsCallerKey(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{200}}
	ctx := resilience.WithKey(context.Background(), "tenant-42")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example:8080/", nil)
	resp, err := resilience.Transport(rt).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"tenant-42"}, rt.keys)

	req, _ = http.NewRequest(http.MethodGet, "http://api.example:8080/", nil)
	resp, err = resilience.Transport(rt).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "api.example:8080", rt.keys[1])
}

func TestTransportDoesNotModifyRequest(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503, 200}}
	type k struct{}
	mark := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, k{}, "attempt-ctx"))
	})
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.Header.Set("A", "1")
	resp, err := resilience.Transport(rt, retryN(2, 0), mark).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, rt.reqs, 2)
	for _, r := range rt.reqs {
		assert.NotSame(t, req, r, "each attempt sends a clone")
		assert.Equal(t, "attempt-ctx", r.Context().Value(k{}), "the attempt's context reaches next")
	}
	assert.Nil(t, req.Context().Value(k{}))
	assert.Equal(t, http.Header{"A": {"1"}}, req.Header)
}

// Cancelling the caller's context while a policy waits between attempts
// ends the round trip at once.
func TestTransportCancelStopsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRT{statuses: []int{503}}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/", nil)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			resp, err := resilience.Transport(rt, retryN(10, time.Hour)).RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			done <- err
		}()
		time.Sleep(time.Minute)
		cancel()
		err := <-done
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, time.Minute, time.Since(start), "returned at the moment of cancellation")
		assert.Equal(t, 1, rt.attempts())
		assert.Equal(t, rt.opened.Load(), rt.closed.Load())
	})
}

// A per-attempt context cancelled by its policy when the attempt ends would
// make the body unreadable; with DeferRelease the cancel waits for Close.
func TestTransportDeferredReleaseKeepsBodyReadable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond) // the body arrives after the headers
		_, _ = io.WriteString(w, "late body")
	}))
	defer srv.Close()

	var released atomic.Int32
	perAttempt := func(deferIt bool) resilience.Policy {
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			actx, cancel := context.WithCancel(ctx)
			err := op(actx)
			release := func() { released.Add(1); cancel() }
			if !deferIt || !resilience.DeferRelease(ctx, release) {
				release()
			}
			return err
		})
	}
	c := &http.Client{Transport: resilience.Transport(srv.Client().Transport, perAttempt(true))}
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	assert.Zero(t, released.Load(), "release waits for the body")
	assert.Equal(t, "late body", readClose(t, resp))
	assert.EqualValues(t, 1, released.Load(), "closing the body releases")

	// Without deferral the body is cut off: this is what DeferRelease avoids.
	c = &http.Client{Transport: resilience.Transport(srv.Client().Transport, perAttempt(false))}
	resp, err = c.Get(srv.URL)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, context.Canceled)

	// Outside a Transport there is nobody to defer to.
	assert.False(t, resilience.DeferRelease(context.Background(), func() {}))
}

// Deferred releases of a superseded attempt run before the next attempt.
func TestTransportDeferredReleaseOfDiscardedAttempts(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503, 503, 200}}
	var released, attemptsAtRelease []int32
	var attempts atomic.Int32
	perAttempt := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		n := attempts.Add(1)
		err := op(ctx)
		resilience.DeferRelease(ctx, func() {
			released = append(released, n)
			attemptsAtRelease = append(attemptsAtRelease, attempts.Load())
		})
		return err
	})
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	resp, err := resilience.Transport(rt, retryN(3, 0), perAttempt).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, []int32{1, 2}, released)
	assert.Equal(t, []int32{2, 3}, attemptsAtRelease, "each released as the next attempt starts")
	resp.Body.Close()
	assert.Equal(t, []int32{1, 2, 3}, released)
}

func TestTransportNilNextUsesDefault(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	c := &http.Client{Transport: resilience.Transport(nil)}
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "ok", readClose(t, resp))
}

// A real server: the discarded 503 bodies are drained so the connection is
// reused, and the caller reads the final body.
func TestTransportAgainstServer(t *testing.T) {
	t.Parallel()
	var n, conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if n.Add(1) < 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "busy")
			return
		}
		_, _ = w.Write(b)
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
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("echo"))
	resp, err := (&http.Client{Transport: resilience.Transport(tr, retryN(5, 0))}).Do(req)
	require.NoError(t, err)
	assert.Equal(t, "echo", readClose(t, resp))
	assert.EqualValues(t, 3, n.Load())
	assert.EqualValues(t, 1, conns.Load(), "drained responses let the connection be reused")
}

package fallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/timelimit"
)

// upstream is a test server whose answer the test sets.
type upstream struct {
	*httptest.Server
	hits   atomic.Int32
	mu     sync.Mutex
	status int
	header http.Header
	body   string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{status: http.StatusOK, body: "good body"}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		status, header, body := u.status, u.header, u.body
		u.mu.Unlock()
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(status int, body string, header http.Header) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.body, u.header = status, body, header
}

// client sends requests to u through resilience.Transport with ps.
func (u *upstream) client(ps ...resilience.Policy) *http.Client {
	return &http.Client{Transport: resilience.Transport(u.Client().Transport, ps...)}
}

// get sends a GET and returns the response with its body read and closed.
func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	return send(t, c, http.MethodGet, url, nil)
}

func send(t *testing.T, c *http.Client, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, string(b)
}

const staleWarning = `110 - "Response is Stale"`

// "Fail silently": a dummy response while the breaker is open, without a
// request reaching the server.
func TestHTTPDummyWhileBreakerOpen(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.set(http.StatusInternalServerError, "boom", nil)
	fb := fallback.NewHTTP(fallback.StaticResponse(http.StatusOK, http.Header{"X-Fallback": {"dummy"}}, "[]"), fallback.HTTPConfig{})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	c := u.client(fb, br)
	for i := range 3 {
		resp, body := get(t, c, u.URL+"/list")
		assert.Equal(t, http.StatusOK, resp.StatusCode, i)
		assert.Equal(t, "200 OK", resp.Status)
		assert.Equal(t, "[]", body)
		assert.Equal(t, "dummy", resp.Header.Get("X-Fallback"))
		assert.Equal(t, int64(2), resp.ContentLength)
		assert.Equal(t, http.MethodGet, resp.Request.Method)
		assert.Equal(t, breaker.Open, br.State())
	}
	assert.Equal(t, int32(1), u.hits.Load(), "the first failure opened the breaker; the others were not sent")
	m := fb.Metrics()
	assert.Equal(t, uint64(3), m.Failures)
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindValue: 3}, kinds(m))
}

// "Best effort": the last good response while the breaker is open, marked
// stale with Age and Warning.
func TestHTTPStaleWhileBreakerOpen(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.set(http.StatusOK, `{"v":1}`, http.Header{"Content-Type": {"application/json"}, "X-Origin": {"a", "b"}})
	fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	c := u.client(fb, br)

	resp, body := get(t, c, u.URL+"/v")
	require.Equal(t, `{"v":1}`, body)
	assert.Empty(t, resp.Header.Get("Warning"))
	resp.Header.Set("Content-Type", "changed by the caller") // must not reach the stored copy
	require.Equal(t, uint64(1), fb.Metrics().Stored)

	u.set(http.StatusBadGateway, "down", nil)
	for i := range 3 {
		resp, body = get(t, c, u.URL+"/v")
		assert.Equal(t, http.StatusOK, resp.StatusCode, i)
		assert.Equal(t, `{"v":1}`, body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, []string{"a", "b"}, resp.Header["X-Origin"])
		assert.Equal(t, "0", resp.Header.Get("Age"))
		assert.Equal(t, []string{staleWarning}, resp.Header["Warning"])
		assert.Equal(t, int64(len(`{"v":1}`)), resp.ContentLength)
		resp.Header.Set("X-Origin", "changed") // each answer has its own header
	}
	assert.Equal(t, breaker.Open, br.State())
	assert.Equal(t, int32(2), u.hits.Load())
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindStale: 3}, kinds(fb.Metrics()))

	// Another URL has no stale response: the failure goes to the caller as
	// it is (an open breaker).
	_, err := c.Get(u.URL + "/other")
	require.ErrorIs(t, err, breaker.ErrOpen)
}

// A failed response (a 503) that the fallback answers is drained and
// closed, not leaked.
func TestHTTPAnsweredFailureIsClosed(t *testing.T) {
	t.Parallel()
	var closed atomic.Int32
	rt := roundTripper(func(req *http.Request) (*http.Response, error) {
		return response(req, http.StatusServiceUnavailable, nil, &trackBody{Reader: strings.NewReader("busy"), closed: &closed}), nil
	})
	fb := fallback.NewHTTP(fallback.StaticResponse(http.StatusOK, nil, "ok"), fallback.HTTPConfig{})
	c := &http.Client{Transport: resilience.Transport(rt, fb)}
	resp, body := get(t, c, "http://upstream.test/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int32(1), closed.Load())
}

// Two callers answered with the same stale response at once each read a
// body of their own (run with -race).
func TestHTTPConcurrentStaleReplaysHaveTheirOwnBodies(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	want := strings.Repeat("0123456789", 10_000)
	u.set(http.StatusOK, want, nil)
	fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour})
	br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	c := u.client(fb, br)
	_, body := get(t, c, u.URL)
	require.Equal(t, want, body)
	br.ForceOpen()

	const callers = 2
	resps := make([]*http.Response, callers)
	for i := range resps {
		resp, err := c.Get(u.URL)
		require.NoError(t, err)
		resps[i] = resp
	}
	var wg sync.WaitGroup
	got := make([]string, callers)
	start := make(chan struct{})
	for i, resp := range resps {
		wg.Go(func() {
			<-start
			var sb strings.Builder
			buf := make([]byte, 7) // small reads, interleaved with the other's
			for {
				n, err := resp.Body.Read(buf)
				sb.Write(buf[:n])
				if err != nil {
					break
				}
			}
			got[i] = sb.String()
			_ = resp.Body.Close()
		})
	}
	close(start)
	wg.Wait()
	for i := range got {
		assert.Equal(t, len(want), len(got[i]), i)
		assert.True(t, got[i] == want, "caller %d read another body", i)
	}
}

// Only a complete body is remembered: one closed half read is not; one
// read to its Content-Length (a JSON decoder stops there) is, without
// EOF.
func TestHTTPOnlyCompleteBodiesAreStored(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.set(http.StatusOK, `{"n":1}`, nil)
	fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour})
	c := u.client(fb)

	resp, err := c.Get(u.URL + "/half")
	require.NoError(t, err)
	buf := make([]byte, 3)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Zero(t, fb.Metrics().Stored, "half a body is not a response")

	resp, err = c.Get(u.URL + "/closed")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Zero(t, fb.Metrics().Stored)

	resp, err = c.Get(u.URL + "/decoded")
	require.NoError(t, err)
	require.Equal(t, int64(7), resp.ContentLength)
	var v struct{ N int }
	require.NoError(t, json.NewDecoder(io.LimitReader(resp.Body, resp.ContentLength)).Decode(&v))
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, uint64(1), fb.Metrics().Stored, "all of its Content-Length was read")

	u.set(http.StatusBadGateway, "down", nil)
	resp, body := get(t, c, u.URL+"/half")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "nothing stored: the failure comes back as it is")
	assert.Equal(t, "down", body)
	resp, body = get(t, c, u.URL+"/decoded")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `{"n":1}`, body)
	m := fb.Metrics()
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindNoValue: 1, fallback.KindStale: 1}, kinds(m))
}

// A body that fails while read, or that is shorter than its
// Content-Length, is not remembered.
func TestHTTPBrokenBodiesAreNotStored(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]io.Reader{
		"read error": io.MultiReader(strings.NewReader("part"), errReader{}),
		"short":      strings.NewReader("abc"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rt := roundTripper(func(req *http.Request) (*http.Response, error) {
				resp := response(req, http.StatusOK, nil, io.NopCloser(body))
				resp.ContentLength = 10
				return resp, nil
			})
			fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour})
			resp, err := (&http.Client{Transport: resilience.Transport(rt, fb)}).Get("http://upstream.test/")
			require.NoError(t, err)
			_, _ = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Zero(t, fb.Metrics().Stored)
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// The byte bounds: a body over MaxBody is not remembered (with a known or
// an unknown length), and all responses together stay within MaxBytes.
func TestHTTPBounds(t *testing.T) {
	t.Parallel()
	t.Run("MaxBody", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t)
		fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour, MaxBody: 100})
		c := u.client(fb)
		u.set(http.StatusOK, strings.Repeat("x", 101), nil)
		get(t, c, u.URL+"/known-length")
		u.set(http.StatusOK, strings.Repeat("x", 100), nil)
		get(t, c, u.URL+"/fits")
		assert.Equal(t, uint64(1), fb.Metrics().Stored)

		// An unknown length (chunked): copied up to MaxBody, then dropped.
		rt := roundTripper(func(req *http.Request) (*http.Response, error) {
			resp := response(req, http.StatusOK, nil, io.NopCloser(strings.NewReader(strings.Repeat("y", 101))))
			resp.ContentLength = -1
			return resp, nil
		})
		fc := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour, MaxBody: 100})
		_, body := get(t, &http.Client{Transport: resilience.Transport(rt, fc)}, "http://upstream.test/")
		assert.Len(t, body, 101, "the caller reads it all")
		assert.Zero(t, fc.Metrics().Stored)

		// A response too large to remember leaves the older one of its
		// request in place: it is still a good one, and says its age.
		u.set(http.StatusOK, "older", nil)
		get(t, c, u.URL+"/r")
		u.set(http.StatusOK, strings.Repeat("x", 101), nil)
		get(t, c, u.URL+"/r")
		u.set(http.StatusBadGateway, "down", nil)
		resp, body := get(t, c, u.URL+"/r")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "older", body)
	})
	t.Run("MaxBytes", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t)
		const maxBytes = 8 << 10
		fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour, MaxBody: 4 << 10, MaxBytes: maxBytes})
		c := u.client(fb)
		u.set(http.StatusOK, strings.Repeat("z", 3<<10), nil)
		for i := range 10 {
			get(t, c, fmt.Sprintf("%s/%d", u.URL, i))
			m := fb.Metrics()
			assert.LessOrEqual(t, m.Bytes, int64(maxBytes), i)
		}
		m := fb.Metrics()
		assert.Equal(t, uint64(10), m.Stored)
		assert.Equal(t, 2, m.Keys, "two 3 KiB bodies and their headers fit in 8 KiB, three do not")
		assert.Equal(t, uint64(8), m.Evicted)
		assert.Greater(t, m.Bytes, int64(2*3<<10))

		u.set(http.StatusBadGateway, "down", nil)
		resp, _ := get(t, c, u.URL+"/9")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the most recent is held")
		resp, _ = get(t, c, u.URL+"/0")
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "the oldest was dropped")
	})
	t.Run("MaxKeys", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t)
		fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour, MaxKeys: 3})
		c := u.client(fb)
		for i := range 5 {
			get(t, c, fmt.Sprintf("%s/%d", u.URL, i))
		}
		m := fb.Metrics()
		assert.Equal(t, 3, m.Keys)
		assert.Equal(t, uint64(2), m.Evicted)
	})
}

// Only GET and HEAD are remembered and replayed, and only the statuses
// 200, 203 and 204 without Cache-Control: no-store; a request with
// credentials only with a Key of one's own.
func TestHTTPWhatIsRemembered(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		status  int
		header  http.Header // of the response
		reqHdr  http.Header
		key     func(*http.Request) string
		replays bool
	}{
		{name: "GET 200", method: http.MethodGet, status: 200, replays: true},
		{name: "GET 203", method: http.MethodGet, status: 203, replays: true},
		{name: "GET 204", method: http.MethodGet, status: 204, replays: true},
		{name: "HEAD 200", method: http.MethodHead, status: 200, replays: true},
		{name: "POST 200", method: http.MethodPost, status: 200},
		{name: "PUT 200", method: http.MethodPut, status: 200},
		{name: "DELETE 200", method: http.MethodDelete, status: 200},
		{name: "POST with a Key of its own", method: http.MethodPost, status: 200, key: func(*http.Request) string { return "k" }},
		{name: "GET 201", method: http.MethodGet, status: 201},
		{name: "GET 206", method: http.MethodGet, status: 206},
		{name: "GET 404", method: http.MethodGet, status: 404},
		{name: "GET 301", method: http.MethodGet, status: 301, header: http.Header{"Location": {"/x"}}},
		{name: "no-store", method: http.MethodGet, status: 200, header: http.Header{"Cache-Control": {"max-age=60, No-Store"}}},
		{name: "no-storey is not no-store", method: http.MethodGet, status: 200, header: http.Header{"Cache-Control": {"no-storey"}}, replays: true},
		{name: "private is fine for a client", method: http.MethodGet, status: 200, header: http.Header{"Cache-Control": {"private"}}, replays: true},
		{name: "Authorization", method: http.MethodGet, status: 200, reqHdr: http.Header{"Authorization": {"Bearer a"}}},
		{name: "Cookie", method: http.MethodGet, status: 200, reqHdr: http.Header{"Cookie": {"s=1"}}},
		{name: "Authorization with a Key of its own", method: http.MethodGet, status: 200, reqHdr: http.Header{"Authorization": {"Bearer a"}},
			key: func(r *http.Request) string { return r.URL.String() + " " + r.Header.Get("Authorization") }, replays: true},
		{name: "a Key that says no", method: http.MethodGet, status: 200, key: func(*http.Request) string { return "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var fail atomic.Bool
			rt := roundTripper(func(req *http.Request) (*http.Response, error) {
				if fail.Load() {
					return nil, errDown
				}
				resp := response(req, c.status, c.header.Clone(), io.NopCloser(strings.NewReader("body")))
				resp.ContentLength = 4
				return resp, nil
			})
			fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour, Key: c.key})
			cl := &http.Client{
				Transport:     resilience.Transport(rt, fb),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			first, _ := send(t, cl, c.method, "http://upstream.test/r", c.reqHdr)
			require.Equal(t, c.status, first.StatusCode)
			fail.Store(true)
			req, err := http.NewRequest(c.method, "http://upstream.test/r", nil)
			require.NoError(t, err)
			for k, vs := range c.reqHdr {
				req.Header[k] = vs
			}
			resp, err := cl.Do(req)
			if !c.replays {
				require.ErrorIs(t, err, errDown)
				assert.Zero(t, fb.Metrics().Stored)
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, c.status, resp.StatusCode)
			assert.Equal(t, staleWarning, resp.Header.Get("Warning"))
			b, _ := io.ReadAll(resp.Body)
			switch {
			case c.method == http.MethodHead:
				assert.Empty(t, b)
				assert.Equal(t, http.NoBody, resp.Body)
				assert.Equal(t, int64(4), resp.ContentLength, "a HEAD keeps the length it said")
			default:
				assert.Equal(t, "body", string(b))
			}
		})
	}
}

// A HEAD and a GET of one URL are remembered apart.
func TestHTTPHeadAndGetAreApart(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Hour})
	c := u.client(fb)
	send(t, c, http.MethodHead, u.URL, nil)
	assert.Equal(t, uint64(1), fb.Metrics().Stored, "a HEAD is complete at once")
	u.set(http.StatusBadGateway, "", nil)
	resp, _ := get(t, c, u.URL)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
}

func TestDefaultKey(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "http://api.test/a?b=c", nil)
	assert.Equal(t, "GET http://api.test/a?b=c", fallback.DefaultKey(req))
	req.Host = "other.test"
	assert.Equal(t, "GET http://api.test/a?b=c (Host: other.test)", fallback.DefaultKey(req))
	req = httptest.NewRequest(http.MethodHead, "http://api.test/a", nil)
	assert.Equal(t, "HEAD http://api.test/a", fallback.DefaultKey(req))
	req.Method = ""
	assert.Equal(t, "GET http://api.test/a", fallback.DefaultKey(req))
	req.Header.Set("Authorization", "x")
	assert.Empty(t, fallback.DefaultKey(req))
}

// Age counts the seconds since the response was received, on top of the
// Age it came with (virtual time, with a RoundTripper of the test's).
func TestHTTPAge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		rt := roundTripper(func(req *http.Request) (*http.Response, error) {
			if fail.Load() {
				return nil, errDown
			}
			return response(req, http.StatusOK, http.Header{"Age": {"100"}}, io.NopCloser(strings.NewReader("b"))), nil
		})
		fb := fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: 10 * time.Minute})
		c := &http.Client{Transport: resilience.Transport(rt, fb)}
		first, _ := get(t, c, "http://upstream.test/")
		assert.Equal(t, "100", first.Header.Get("Age"), "a fresh response is the caller's as it came")
		fail.Store(true)
		time.Sleep(90*time.Second + 500*time.Millisecond)
		resp, body := get(t, c, "http://upstream.test/")
		assert.Equal(t, "b", body)
		assert.Equal(t, "190", resp.Header.Get("Age"))
		time.Sleep(509*time.Second + 500*time.Millisecond)
		resp, _ = get(t, c, "http://upstream.test/")
		assert.Equal(t, "700", resp.Header.Get("Age"), "exactly Stale old is still answered")
		time.Sleep(time.Nanosecond)
		_, err := c.Get("http://upstream.test/")
		require.ErrorIs(t, err, errDown, "too old")
	})
}

// respond's failures: its error with a response (whose body is closed),
// or neither a response nor an error.
func TestHTTPRespondFails(t *testing.T) {
	t.Parallel()
	down := roundTripper(func(*http.Request) (*http.Response, error) { return nil, errDown })
	errRespond := errors.New("secondary down")
	var closed atomic.Int32
	fb := fallback.NewHTTP(func(req *http.Request, err error) (*http.Response, error) {
		return response(req, 500, nil, &trackBody{Reader: strings.NewReader(""), closed: &closed}), errRespond
	}, fallback.HTTPConfig{})
	_, err := (&http.Client{Transport: resilience.Transport(down, fb)}).Get("http://upstream.test/")
	require.ErrorIs(t, err, errRespond)
	require.ErrorIs(t, err, errDown)
	assert.Equal(t, int32(1), closed.Load())

	fn := fallback.NewHTTP(func(*http.Request, error) (*http.Response, error) { return nil, nil }, fallback.HTTPConfig{})
	_, err = (&http.Client{Transport: resilience.Transport(down, fn)}).Get("http://upstream.test/")
	require.ErrorIs(t, err, errDown)
	assert.ErrorContains(t, err, "fallback: respond returned neither a response nor an error")
}

// An alternate call: the secondary endpoint answers for the primary.
func TestHTTPAlternateCall(t *testing.T) {
	t.Parallel()
	primary, secondary := newUpstream(t), newUpstream(t)
	primary.set(http.StatusServiceUnavailable, "", nil)
	secondary.set(http.StatusOK, "from the secondary", nil)
	fb := fallback.NewHTTP(func(req *http.Request, err error) (*http.Response, error) {
		alt := req.Clone(req.Context())
		alt.URL.Host = strings.TrimPrefix(secondary.URL, "http://")
		alt.Host = ""
		return secondary.Client().Transport.RoundTrip(alt)
	}, fallback.HTTPConfig{})
	resp, body := get(t, primary.client(fb), primary.URL+"/p")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "from the secondary", body)
	assert.Equal(t, int32(1), secondary.hits.Load())
}

// What respond leaves out is filled in.
func TestHTTPRespondIsCompleted(t *testing.T) {
	t.Parallel()
	down := roundTripper(func(*http.Request) (*http.Response, error) { return nil, errDown })
	for name, c := range map[string]struct {
		resp    *http.Response
		status  string
		length  int64
		hasBody bool
	}{
		"empty":     {&http.Response{}, "200 OK", 0, false},
		"with body": {&http.Response{StatusCode: 418, Body: io.NopCloser(strings.NewReader("tea"))}, "418 I'm a teapot", -1, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fb := fallback.NewHTTP(func(*http.Request, error) (*http.Response, error) { return c.resp, nil }, fallback.HTTPConfig{})
			req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
			resp, err := resilience.Transport(down, fb).RoundTrip(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, c.status, resp.Status)
			assert.Equal(t, "HTTP/1.1", resp.Proto)
			assert.Equal(t, 1, resp.ProtoMajor)
			assert.NotNil(t, resp.Header)
			assert.Equal(t, req, resp.Request)
			assert.Equal(t, c.length, resp.ContentLength)
			if !c.hasBody {
				assert.Equal(t, http.NoBody, resp.Body)
			}
		})
	}
}

// StaticResponse makes a new response each time: a header and a body of
// its own.
func TestStaticResponse(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-A": {"1"}}
	respond := fallback.StaticResponse(http.StatusAccepted, h, "body")
	h.Set("X-A", "changed after") // StaticResponse kept a copy
	req := httptest.NewRequest(http.MethodGet, "http://a.test/", nil)
	r1, err := respond(req, errDown)
	require.NoError(t, err)
	r1.Header.Set("X-A", "changed by a caller")
	b1, _ := io.ReadAll(r1.Body)
	r2, _ := respond(req, errDown)
	b2, _ := io.ReadAll(r2.Body)
	assert.Equal(t, "body", string(b1))
	assert.Equal(t, "body", string(b2))
	assert.Equal(t, "1", r2.Header.Get("X-A"))
	assert.Equal(t, http.StatusAccepted, r2.StatusCode)
	assert.Equal(t, int64(4), r2.ContentLength)
	r3, _ := fallback.StaticResponse(http.StatusNoContent, nil, "")(req, errDown)
	assert.Equal(t, http.NoBody, r3.Body)
	assert.NotNil(t, r3.Header)
}

// Outside resilience.Transport there is no request to answer: ErrNoResult,
// without calling respond.
func TestHTTPOutsideTransport(t *testing.T) {
	t.Parallel()
	called := false
	fb := fallback.NewHTTP(func(*http.Request, error) (*http.Response, error) {
		called = true
		return &http.Response{}, nil
	}, fallback.HTTPConfig{Stale: time.Minute})
	err := fb.Do(context.Background(), func(context.Context) error { return errDown })
	require.ErrorIs(t, err, fallback.ErrNoResult)
	require.ErrorIs(t, err, errDown)
	assert.Contains(t, err.Error(), "resilience.Do[*http.Response] or resilience.Transport")
	_, err = resilience.Do(context.Background(), fb, fails[*http.Response](errDown))
	require.ErrorIs(t, err, fallback.ErrNoResult)
	assert.False(t, called)

	// A success outside Transport remembers nothing.
	_, err = resilience.Do(context.Background(), fb, func(context.Context) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	require.NoError(t, err)
	assert.Zero(t, fb.Metrics().Stored)
}

// Under resilience.Handler, RequestFrom gives the served request, but no
// response is carried: the fallback cannot answer and says so.
func TestHTTPUnderHandler(t *testing.T) {
	t.Parallel()
	var closed atomic.Int32
	fb := fallback.NewHTTP(func(req *http.Request, err error) (*http.Response, error) {
		return response(req, 200, nil, &trackBody{Reader: strings.NewReader("x"), closed: &closed}), nil
	}, fallback.HTTPConfig{})
	var got error
	h := resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), resilience.PolicyFunc(
		func(ctx context.Context, op func(context.Context) error) error {
			got = fb.Do(ctx, func(context.Context) error { return errDown })
			return op(ctx)
		}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	require.ErrorIs(t, got, fallback.ErrNoResult)
	assert.Equal(t, int32(1), closed.Load(), "the response that could not be handed over is closed")
}

// The caller's cancel is not answered, stale response or not.
func TestHTTPCallerCancelIsNotAnswered(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	fb := fallback.NewHTTP(fallback.StaticResponse(200, nil, "dummy"), fallback.HTTPConfig{Stale: time.Hour})
	c := u.client(fb)
	get(t, c, u.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	_, err := c.Do(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, uint64(1), fb.Metrics().Unmatched)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func response(req *http.Request, status int, h http.Header, body io.ReadCloser) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body, ContentLength: -1, Request: req,
	}
}

// trackBody counts its Closes.
type trackBody struct {
	io.Reader
	closed *atomic.Int32
}

func (b *trackBody) Close() error { b.closed.Add(1); return nil }

// http.Client.Timeout is the caller's deadline (the client puts it on the
// request's context): its expiry is not answered. A time limit inside the
// fallback is a policy's, and is.
func TestHTTPClientTimeoutIsTheCallers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		slow := roundTripper(func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done()
			return nil, req.Context().Err()
		})
		fb := fallback.NewHTTP(fallback.StaticResponse(200, nil, "dummy"), fallback.HTTPConfig{})
		c := &http.Client{Transport: resilience.Transport(slow, fb), Timeout: time.Second}
		_, err := c.Get("http://upstream.test/")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, uint64(1), fb.Metrics().Unmatched)

		c = &http.Client{Transport: resilience.Transport(slow, fb, timelimit.New(500*time.Millisecond, timelimit.Config{})), Timeout: time.Second}
		_, body := get(t, c, "http://upstream.test/")
		assert.Equal(t, "dummy", body)
	})
}

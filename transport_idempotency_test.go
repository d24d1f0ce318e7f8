package resilience_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// countingKeys is a TransportConfig.IdempotencyKey that counts its calls and
// answers with NewIdempotencyKey, or with fixed when it is set.
type countingKeys struct {
	calls atomic.Int32
	fixed *string
}

func (k *countingKeys) key(req *http.Request) string {
	k.calls.Add(1)
	if k.fixed != nil {
		return *k.fixed
	}
	return resilience.NewIdempotencyKey(req)
}

func keyTransport(next http.RoundTripper, k *countingKeys, ps ...resilience.Policy) http.RoundTripper {
	return resilience.NewTransport(next, resilience.TransportConfig{IdempotencyKey: k.key}, ps...)
}

// sentKeys returns the Idempotency-Key values of the requests rt received.
func sentKeys(rt *fakeRT) [][]string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var keys [][]string
	for _, r := range rt.reqs {
		keys = append(keys, r.Header.Values("Idempotency-Key"))
	}
	return keys
}

func TestNewIdempotencyKey(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^"[0-9a-f]{32}"$`)
	seen := map[string]bool{}
	for range 100 {
		k := resilience.NewIdempotencyKey(nil)
		require.Regexp(t, format, k)
		require.False(t, seen[k], "keys repeat: %s", k)
		seen[k] = true
	}
}

// A real server fails each key's first two attempts: every RoundTrip,
// several at once, asks for one key, sends it on all its attempts, and the
// keys of different RoundTrips differ.
func TestTransportIdempotencyKeySameOnEveryAttempt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{} // attempts per key
	var missing atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		vs := r.Header.Values("Idempotency-Key")
		if len(vs) != 1 {
			missing.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[vs[0]]++
		n := seen[vs[0]]
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	}))
	defer srv.Close()

	keys := &countingKeys{}
	client := &http.Client{Transport: keyTransport(srv.Client().Transport, keys, retryN(5, 0))}
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			body := fmt.Sprintf("order %d", i)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated || string(got) != body {
				errs[i] = fmt.Errorf("caller %d: %d %q", i, resp.StatusCode, got)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Zero(t, missing.Load(), "every attempt carries exactly one key")
	assert.EqualValues(t, callers, keys.calls.Load(), "one key per RoundTrip, not per attempt")
	require.Len(t, seen, callers, "each RoundTrip has a key of its own")
	for k, n := range seen {
		assert.Equal(t, 3, n, "key %s: every attempt of a RoundTrip sends the same key", k)
		assert.Regexp(t, `^"[0-9a-f]{32}"$`, k)
	}
}

func TestTransportIdempotencyKeyOnlyForNonIdempotentMethods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		keyed  bool
	}{
		{"", false},
		{http.MethodGet, false},
		{http.MethodHead, false},
		{http.MethodOptions, false},
		{http.MethodTrace, false},
		{http.MethodPut, false},
		{http.MethodDelete, false},
		{http.MethodPost, true},
		{http.MethodPatch, true},
		{http.MethodConnect, true},
		{"PROPPATCH", true},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			rt := &fakeRT{statuses: []int{200}}
			keys := &countingKeys{}
			req, _ := http.NewRequest(tc.method, "http://api.example/", nil)
			resp, err := keyTransport(rt, keys).RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			got := sentKeys(rt)
			require.Len(t, got, 1)
			if tc.keyed {
				assert.EqualValues(t, 1, keys.calls.Load())
				require.Len(t, got[0], 1)
				assert.Regexp(t, `^"[0-9a-f]{32}"$`, got[0][0])
			} else {
				assert.Zero(t, keys.calls.Load(), "not asked for a key")
				assert.Empty(t, got[0])
			}
		})
	}
}

// A request that carries a key of its own keeps it, and gets no second one.
func TestTransportIdempotencyKeyKeepsCallersKey(t *testing.T) {
	t.Parallel()
	for _, header := range []string{"Idempotency-Key", "X-Idempotency-Key"} {
		t.Run(header, func(t *testing.T) {
			t.Parallel()
			rt := &fakeRT{statuses: []int{503, 200}}
			keys := &countingKeys{}
			req, _ := http.NewRequest(http.MethodPost, "http://api.example/", strings.NewReader("b"))
			req.Header.Set(header, `"mine"`)
			resp, err := keyTransport(rt, keys, retryN(3, 0)).RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode, "retried: the caller's key makes it idempotent")
			resp.Body.Close()
			assert.Zero(t, keys.calls.Load())
			rt.mu.Lock()
			defer rt.mu.Unlock()
			require.Len(t, rt.reqs, 2)
			for _, r := range rt.reqs {
				assert.Equal(t, http.Header{header: {`"mine"`}}, r.Header)
			}
		})
	}
}

// The key goes on the copies; the caller's header, nil or not, is as it was.
func TestTransportIdempotencyKeyLeavesCallersHeader(t *testing.T) {
	t.Parallel()
	t.Run("header", func(t *testing.T) {
		t.Parallel()
		rt := &fakeRT{statuses: []int{503, 200}}
		req, _ := http.NewRequest(http.MethodPost, "http://api.example/", strings.NewReader("b"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header["Accept"] = []string{"a", "b"}
		before := req.Header.Clone()
		var fromPolicy []http.Header
		spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			err := op(ctx)
			fromPolicy = append(fromPolicy, resilience.RequestFrom(ctx).Header.Clone())
			return err
		})
		resp, err := keyTransport(rt, &countingKeys{}, retryN(3, 0), spy).RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, before, req.Header)
		assert.Equal(t, []http.Header{before, before}, fromPolicy, "RequestFrom is the caller's request")
		got := sentKeys(rt)
		require.Len(t, got, 2)
		assert.Equal(t, got[0], got[1])
		rt.mu.Lock()
		defer rt.mu.Unlock()
		for _, r := range rt.reqs {
			assert.Equal(t, "text/plain", r.Header.Get("Content-Type"))
			assert.Equal(t, []string{"a", "b"}, r.Header["Accept"])
		}
	})
	t.Run("nil header", func(t *testing.T) {
		t.Parallel()
		rt := &fakeRT{statuses: []int{200}}
		u, _ := url.Parse("http://api.example/")
		req := &http.Request{Method: http.MethodPost, URL: u}
		resp, err := keyTransport(rt, &countingKeys{}).RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Nil(t, req.Header)
		got := sentKeys(rt)
		require.Len(t, got, 1)
		assert.Len(t, got[0], 1)
	})
}

// An empty key sends the request without one, and its failure stays
// permanent: the retry stops after the first attempt.
func TestTransportIdempotencyKeyEmptyMeansNone(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{503, 200}}
	empty := ""
	keys := &countingKeys{fixed: &empty}
	var errs []error
	spy := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		errs = append(errs, err)
		return err
	})
	req, _ := http.NewRequest(http.MethodPost, "http://api.example/", strings.NewReader("b"))
	resp, err := keyTransport(rt, keys, retryN(5, 0), spy).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, "the failure is the answer")
	resp.Body.Close()
	assert.EqualValues(t, 1, keys.calls.Load())
	assert.Equal(t, [][]string{nil}, sentKeys(rt), "one attempt, no key")
	require.Len(t, errs, 1)
	assert.True(t, resilience.IsPermanent(errs[0]))
}

// A key that cannot be a header value is refused before anything is sent,
// with a permanent error, and the body is closed.
func TestTransportIdempotencyKeyInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key string
		valid     bool
	}{
		{"line feed", "a\nb", false},
		{"carriage return", "a\rb", false},
		{"header injection", "k\r\nX-Admin: 1", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"other control byte", "\x1b[0m", false},
		{"non-ASCII", "ключ", false},
		{"invalid UTF-8", "a\xffb", false},
		{"leading space", " a", false},
		{"trailing tab", "a\t", false},
		{"only a space", " ", false},
		{"inner space and tab", "a b\tc", true},
		{"structured field string", `"8e03978e40d543e8bc936894a57f9324"`, true},
		{"bare token", "order-42:retry_ok~", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := &fakeRT{statuses: []int{200}}
			key := tc.key
			body := &oneShot{Reader: strings.NewReader("b")}
			req, _ := http.NewRequest(http.MethodPost, "http://api.example/", body)
			client := &http.Client{Transport: keyTransport(rt, &countingKeys{fixed: &key}, retryN(3, 0))}
			resp, err := client.Do(req)
			if tc.valid {
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, [][]string{{key}}, sentKeys(rt))
				return
			}
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, resilience.ErrInvalidIdempotencyKey)
			assert.True(t, resilience.IsPermanent(err))
			assert.ErrorContains(t, err, "offset")
			assert.NotContains(t, err.Error(), "\n", "the error does not carry the bad bytes")
			assert.True(t, body.closed.Load(), "the request body is closed")
			assert.Zero(t, rt.attempts(), "nothing is sent")
		})
	}
}

// A panic in the key function reaches the caller, and the request body is
// closed all the same.
func TestTransportIdempotencyKeyPanicClosesBody(t *testing.T) {
	t.Parallel()
	rt := &fakeRT{statuses: []int{200}}
	tr := resilience.NewTransport(rt, resilience.TransportConfig{
		IdempotencyKey: func(*http.Request) string { panic("no keys today") },
	})
	body := &oneShot{Reader: strings.NewReader("b")}
	req, _ := http.NewRequest(http.MethodPost, "http://api.example/", body)
	assert.PanicsWithValue(t, "no keys today", func() { _, _ = tr.RoundTrip(req) })
	assert.True(t, body.closed.Load())
	assert.Zero(t, rt.attempts())
}

// keyedSlowRT answers attempt n after latency[n] (the last repeats), or fails
// with the context's error if the attempt's context ends first. It records
// the Idempotency-Key values and bodies of every attempt.
type keyedSlowRT struct {
	latency []time.Duration

	mu     sync.Mutex
	keys   [][]string
	bodies []string
}

func (s *keyedSlowRT) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body.Close()
	s.mu.Lock()
	n := len(s.keys)
	s.keys = append(s.keys, req.Header.Values("Idempotency-Key"))
	s.bodies = append(s.bodies, string(b))
	d := s.latency[min(n, len(s.latency)-1)]
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader(fmt.Sprint("answer ", n))),
		Request:    req,
	}, nil
}

// Under a hedge, attempts run at once: every one carries the same key, and
// without a key the POST gets a single attempt.
func TestTransportIdempotencyKeyUnderHedge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		key      *string
		attempts int
		answer   string
	}{
		{"generated key", nil, 3, "answer 2"},
		{"empty key", new(string), 1, "answer 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rt := &keyedSlowRT{latency: []time.Duration{10 * time.Second, 10 * time.Second, 0}}
				h := hedge.New(hedge.Config{Delay: time.Second, MaxHedges: 2})
				keys := &countingKeys{fixed: tc.key}
				req, _ := http.NewRequest(http.MethodPost, "http://api.example/", strings.NewReader("payload"))
				resp, err := keyTransport(rt, keys, h).RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, tc.answer, readClose(t, resp))
				assert.EqualValues(t, 1, keys.calls.Load(), "one key for all attempts")

				rt.mu.Lock()
				defer rt.mu.Unlock()
				require.Len(t, rt.keys, tc.attempts)
				for i, k := range rt.keys {
					assert.Equal(t, "payload", rt.bodies[i])
					if tc.key != nil {
						assert.Empty(t, k)
						continue
					}
					require.Len(t, k, 1, "attempt %d", i)
					assert.Equal(t, rt.keys[0], k, "attempt %d sends the key of the first", i)
				}
			})
		})
	}
}

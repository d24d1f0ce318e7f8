package resilience_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

// serveWithDeadline serves one request carrying header values vs under
// NewHandler with c, and returns the answer and the deadline the handler
// saw (zero: none, or the handler did not run).
func serveWithDeadline(t *testing.T, ctx context.Context, c resilience.HandlerConfig, vs ...string) (*httptest.ResponseRecorder, time.Time, bool) {
	t.Helper()
	var dl time.Time
	ran := false
	h := resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		dl, _ = r.Context().Deadline()
	}), c)
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/", nil)
	for _, v := range vs {
		req.Header.Add(resilience.DeadlineHeader, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, dl, ran
}

func TestHandlerAppliesCallersDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{Margin: 20 * time.Millisecond}}
		rec, dl, ran := serveWithDeadline(t, context.Background(), c, "500")
		require.True(t, ran)
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, time.Now().Add(480*time.Millisecond), dl, "the caller's 500 ms less the margin")

		// The server's own deadline, earlier, stays: a caller never
		// extends it.
		own, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		ownDl, _ := own.Deadline()
		_, dl, _ = serveWithDeadline(t, own, c, "500")
		assert.Equal(t, ownDl, dl)

		// Without the header, or without Deadline, nothing changes.
		_, dl, ran = serveWithDeadline(t, context.Background(), c)
		assert.True(t, ran)
		assert.Zero(t, dl)
		_, dl, ran = serveWithDeadline(t, context.Background(), resilience.HandlerConfig{}, "5")
		assert.True(t, ran)
		assert.Zero(t, dl, "ignored unless configured")

		// A claim above Max counts as Max.
		capped := resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{Max: time.Second}}
		_, dl, _ = serveWithDeadline(t, context.Background(), capped, "999999999999")
		assert.Equal(t, time.Now().Add(time.Second), dl)
		_, dl, _ = serveWithDeadline(t, context.Background(), resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{}}, "999999999999")
		assert.Equal(t, time.Now().Add(resilience.DefaultMaxDeadline), dl)
	})
}

func TestHandlerRefusesTooLittleTime(t *testing.T) {
	t.Parallel()
	var got error
	c := resilience.HandlerConfig{
		Deadline: &resilience.DeadlineConfig{Margin: 10 * time.Millisecond, MinLeft: 50 * time.Millisecond},
		Reject: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(resilience.RejectionStatus(err))
		},
	}
	for _, v := range []string{"59", "10", "0"} {
		got = nil
		rec, _, ran := serveWithDeadline(t, context.Background(), c, v)
		assert.False(t, ran, v)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, v)
		assert.Empty(t, rec.Header().Get("Retry-After"), "the caller will not come back for it")
		assert.ErrorIs(t, got, resilience.ErrDeadlineTooShort, v)
		assert.True(t, resilience.IsLocalRejection(got))
	}
	rec, _, ran := serveWithDeadline(t, context.Background(), c, "60")
	assert.True(t, ran, "50 ms left after the margin is enough")
	assert.Equal(t, http.StatusOK, rec.Code)

	// MinLeft 0 still refuses a request with no time left at all.
	zero := resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{}}
	rec, _, ran = serveWithDeadline(t, context.Background(), zero, "0")
	assert.False(t, ran)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "Service Unavailable")
}

func TestHandlerRefusesMalformedDeadline(t *testing.T) {
	t.Parallel()
	c := resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{}}
	for _, vs := range [][]string{
		{""}, {"-5"}, {"+5"}, {"1.5"}, {"5ms"}, {" 5"}, {"0x10"}, {"1234567890123"}, {"5, 6"}, {"5", "6"},
	} {
		rec, _, ran := serveWithDeadline(t, context.Background(), c, vs...)
		assert.False(t, ran, "%q", vs)
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%q", vs)
	}
	// The same value on two lines is one value.
	_, _, ran := serveWithDeadline(t, context.Background(), c, "500", "500")
	assert.True(t, ran)

	// An untrusted peer's header is ignored, malformed or not.
	untrusted := resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{
		Trust: func(r *http.Request) bool { return strings.HasPrefix(r.RemoteAddr, "10.") },
	}}
	for _, v := range []string{"abc", "0", "5"} {
		rec, dl, ran := serveWithDeadline(t, context.Background(), untrusted, v)
		assert.True(t, ran, v)
		assert.Equal(t, http.StatusOK, rec.Code, v)
		assert.Zero(t, dl, v)
	}
}

func TestParseDeadline(t *testing.T) {
	t.Parallel()
	d, err := resilience.ParseDeadline("1500")
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, d)
	d, err = resilience.ParseDeadline("999999999999")
	require.NoError(t, err)
	assert.Equal(t, 999999999999*time.Millisecond, d)
	for _, v := range []string{"", "-1", "1e3", "1_000", "١٢", "1234567890123"} {
		_, err := resilience.ParseDeadline(v)
		assert.ErrorIs(t, err, resilience.ErrInvalidDeadline, v)
	}
}

func TestDeadlineConfigPanics(t *testing.T) {
	t.Parallel()
	next := http.NotFoundHandler()
	for name, c := range map[string]resilience.DeadlineConfig{
		"Margin": {Margin: -1}, "MinLeft": {MinLeft: -1}, "Max": {Max: -1},
	} {
		assert.PanicsWithValue(t, "resilience: negative DeadlineConfig."+name+" -1ns", func() {
			resilience.NewHandler(next, resilience.HandlerConfig{Deadline: &c})
		})
	}
	// The caller's config is not changed by the defaults.
	c := resilience.DeadlineConfig{}
	resilience.NewHandler(next, resilience.HandlerConfig{Deadline: &c})
	assert.Zero(t, c.Max)
}

// headerOf returns a RoundTripper that records the DeadlineHeader of each
// request it is sent.
func headerOf(got *[][]string) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		*got = append(*got, r.Header.Values(resilience.DeadlineHeader))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportSendsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got [][]string
		send := resilience.TransportConfig{SendDeadline: true}
		get := func(rt http.RoundTripper, ctx context.Context, own ...string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/", nil)
			require.NoError(t, err)
			for _, v := range own {
				req.Header.Set(resilience.DeadlineHeader, v)
			}
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, own, req.Header.Values(resilience.DeadlineHeader), "the caller's request is not changed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()

		get(resilience.NewTransport(headerOf(&got), send), ctx)
		get(resilience.NewTransport(headerOf(&got), send), context.Background())
		get(resilience.NewTransport(headerOf(&got), resilience.TransportConfig{}), ctx)
		// A time limit among the policies, earlier than the caller's
		// deadline, is the attempt's.
		get(resilience.NewTransport(headerOf(&got), send, timelimit.New(200*time.Millisecond, timelimit.Config{})), ctx)
		// A smaller value the request carries stays; a larger one is
		// replaced.
		get(resilience.NewTransport(headerOf(&got), send), ctx, "700")
		get(resilience.NewTransport(headerOf(&got), send), ctx, "90000")
		assert.Equal(t, [][]string{{"1500"}, nil, nil, {"200"}, {"700"}, {"1500"}}, got)
	})
}

// End to end over a real connection: the server's handler ends when the
// client stops waiting, less the margin.
func TestDeadlinePropagatesEndToEnd(t *testing.T) {
	t.Parallel()
	seen := make(chan time.Duration, 1)
	srv := httptest.NewServer(resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			seen <- -1
			return
		}
		seen <- time.Until(dl)
	}), resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{Margin: 100 * time.Millisecond}}))
	defer srv.Close()
	client := &http.Client{Transport: resilience.NewTransport(srv.Client().Transport, resilience.TransportConfig{SendDeadline: true})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	left := <-seen
	assert.Greater(t, left, time.Duration(0), "the handler had a deadline")
	assert.LessOrEqual(t, left, 4900*time.Millisecond, "at most the caller's 5 s less the margin")
}

// Whatever a caller sends as its deadline, ParseDeadline returns a
// non-negative whole number of milliseconds that prints back as what was
// sent (leading zeros aside), or ErrInvalidDeadline; the Handler then
// never extends its own deadline nor answers other than 200, 400 or 503.
func FuzzDeadlineHeader(f *testing.F) {
	for _, s := range []string{"0", "1500", "007", "999999999999", "1234567890123", "-1", "1.5", "5ms", "", " 5", "١٢"} {
		f.Add(s)
	}
	h := resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dl, ok := r.Context().Deadline(); ok && time.Until(dl) > time.Minute {
			panic("extended past the server's own deadline")
		}
	}), resilience.HandlerConfig{Deadline: &resilience.DeadlineConfig{MinLeft: time.Millisecond}})
	f.Fuzz(func(t *testing.T, s string) {
		d, err := resilience.ParseDeadline(s)
		if err != nil {
			if !errors.Is(err, resilience.ErrInvalidDeadline) || d != 0 {
				t.Fatalf("%q: %v, %v", s, d, err)
			}
		} else {
			if d < 0 || d%time.Millisecond != 0 {
				t.Fatalf("%q: %v", s, d)
			}
			if got := strconv.FormatInt(d.Milliseconds(), 10); strings.TrimLeft(s, "0") != strings.TrimLeft(got, "0") {
				t.Fatalf("%q parsed as %v", s, d)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/", nil)
		req.Header[resilience.DeadlineHeader] = []string{s}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusServiceUnavailable:
		default:
			t.Fatalf("%q: status %d", s, rec.Code)
		}
	})
}

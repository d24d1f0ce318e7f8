package resilience_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

func TestCriticalityNames(t *testing.T) {
	t.Parallel()
	for _, c := range []resilience.Criticality{resilience.Sheddable, resilience.DefaultCriticality, resilience.Critical} {
		got, err := resilience.ParseCriticality(c.String())
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
	got, err := resilience.ParseCriticality("CRITICAL")
	require.NoError(t, err)
	assert.Equal(t, resilience.Critical, got)
	for _, s := range []string{"", "urgent", "critical_plus", " critical", "1"} {
		_, err := resilience.ParseCriticality(s)
		assert.ErrorIs(t, err, resilience.ErrInvalidCriticality, s)
	}
	assert.Equal(t, "Criticality(7)", resilience.Criticality(7).String())
	assert.True(t, resilience.Sheddable < resilience.DefaultCriticality && resilience.DefaultCriticality < resilience.Critical)

	c, ok := resilience.CriticalityFrom(context.Background())
	assert.False(t, ok)
	assert.Equal(t, resilience.DefaultCriticality, c)
	c, ok = resilience.CriticalityFrom(resilience.WithCriticality(context.Background(), resilience.Sheddable))
	assert.True(t, ok)
	assert.Equal(t, resilience.Sheddable, c)
	assert.PanicsWithValue(t, "resilience: WithCriticality with Criticality(7)", func() {
		resilience.WithCriticality(context.Background(), 7)
	})
	assert.PanicsWithValue(t, "resilience: CriticalityConfig.Max Criticality(2)", func() {
		resilience.NewHandler(http.NotFoundHandler(), resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{Max: 2}})
	})
}

// serveWithCriticality serves one request carrying header values vs and
// returns the answer and the criticality the handler found in its context.
func serveWithCriticality(t *testing.T, c resilience.HandlerConfig, vs ...string) (code int, crit resilience.Criticality, set, ran bool) {
	t.Helper()
	h := resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		crit, set = resilience.CriticalityFrom(r.Context())
	}), c)
	req := httptest.NewRequest(http.MethodGet, "http://svc.test/", nil)
	for _, v := range vs {
		req.Header.Add(resilience.CriticalityHeader, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, crit, set, ran
}

func TestHandlerReadsCriticality(t *testing.T) {
	t.Parallel()
	upToCritical := resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{Max: resilience.Critical}}
	zero := resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{}}
	for _, tt := range []struct {
		name string
		c    resilience.HandlerConfig
		vs   []string
		want resilience.Criticality
		set  bool
	}{
		{"critical", upToCritical, []string{"critical"}, resilience.Critical, true},
		{"sheddable, any case", upToCritical, []string{"Sheddable"}, resilience.Sheddable, true},
		{"twice the same", upToCritical, []string{"default", "DEFAULT"}, resilience.DefaultCriticality, true},
		{"capped at Max", zero, []string{"critical"}, resilience.DefaultCriticality, true},
		{"below Max", zero, []string{"sheddable"}, resilience.Sheddable, true},
		{"no header", upToCritical, nil, resilience.DefaultCriticality, false},
		{"not configured", resilience.HandlerConfig{}, []string{"critical"}, resilience.DefaultCriticality, false},
		{"untrusted", resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{
			Max: resilience.Critical, Trust: func(*http.Request) bool { return false },
		}}, []string{"nonsense"}, resilience.DefaultCriticality, false},
	} {
		code, crit, set, ran := serveWithCriticality(t, tt.c, tt.vs...)
		assert.True(t, ran, tt.name)
		assert.Equal(t, http.StatusOK, code, tt.name)
		assert.Equal(t, tt.want, crit, tt.name)
		assert.Equal(t, tt.set, set, tt.name)
	}
	for _, vs := range [][]string{{"urgent"}, {""}, {"critical", "sheddable"}} {
		code, _, _, ran := serveWithCriticality(t, upToCritical, vs...)
		assert.False(t, ran, "%q", vs)
		assert.Equal(t, http.StatusBadRequest, code, "%q", vs)
	}
}

func TestTransportSendsCriticality(t *testing.T) {
	t.Parallel()
	var got [][]string
	rt := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Values(resilience.CriticalityHeader))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	send := resilience.NewTransport(rt, resilience.TransportConfig{SendCriticality: true})
	quiet := resilience.NewTransport(rt, resilience.TransportConfig{})
	shed := resilience.WithCriticality(context.Background(), resilience.Sheddable)
	for _, c := range []struct {
		rt  http.RoundTripper
		ctx context.Context
	}{{send, shed}, {send, context.Background()}, {quiet, shed}} {
		req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://svc.test/", nil)
		require.NoError(t, err)
		resp, err := c.rt.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Empty(t, req.Header, "the caller's request is not changed")
	}
	assert.Equal(t, [][]string{{"sheddable"}, nil, nil}, got)
}

// A request's criticality follows it across two services: the first
// reads it from its caller and its calls downstream send it on.
func TestCriticalityAcrossServices(t *testing.T) {
	t.Parallel()
	cfg := resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{Max: resilience.Critical}}
	back := httptest.NewServer(resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resilience.CriticalityFrom(r.Context())
		_, _ = io.WriteString(w, c.String())
	}), cfg))
	defer back.Close()
	down := &http.Client{Transport: resilience.NewTransport(back.Client().Transport, resilience.TransportConfig{SendCriticality: true})}
	front := httptest.NewServer(resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, back.URL, nil)
		resp, err := down.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	}), cfg))
	defer front.Close()

	client := &http.Client{Transport: resilience.NewTransport(front.Client().Transport, resilience.TransportConfig{SendCriticality: true})}
	for _, c := range []resilience.Criticality{resilience.Critical, resilience.Sheddable} {
		req, err := http.NewRequestWithContext(resilience.WithCriticality(context.Background(), c), http.MethodGet, front.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, c.String(), string(body))
	}
	down.CloseIdleConnections()
	client.CloseIdleConnections()
}

// Whatever a caller sends as its criticality, the Handler either answers
// 400 or serves it with one of the three criticalities, capped at Max.
func FuzzCriticalityHeader(f *testing.F) {
	for _, s := range []string{"critical", "SHEDDABLE", "default", "", "urgent", "critical\x00"} {
		f.Add(s)
	}
	var got resilience.Criticality
	h := resilience.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = resilience.CriticalityFrom(r.Context())
	}), resilience.HandlerConfig{Criticality: &resilience.CriticalityConfig{}})
	f.Fuzz(func(t *testing.T, s string) {
		got = 99
		req := httptest.NewRequest(http.MethodGet, "http://svc.test/", nil)
		req.Header[resilience.CriticalityHeader] = []string{s}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
			if _, err := resilience.ParseCriticality(s); err == nil {
				t.Fatalf("%q refused but parses", s)
			}
		case http.StatusOK:
			if got != resilience.Sheddable && got != resilience.DefaultCriticality {
				t.Fatalf("%q: %v above Max", s, got)
			}
		default:
			t.Fatalf("%q: status %d", s, rec.Code)
		}
	})
}

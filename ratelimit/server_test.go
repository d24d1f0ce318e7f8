package ratelimit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/ratelimit"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func serve(h http.Handler, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServerGroupPerClient: under resilience.Handler, a Group keeps
// one bucket per client address, and its Do writes the RateLimit headers on
// the answers it admits and on those it refuses.
func TestServerGroupPerClient(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{Config: ratelimit.Config{Name: "per-ip"}})
		h := resilience.Handler(okHandler, k)
		var codes []int
		for _, client := range []string{"192.0.2.1:1000", "192.0.2.2:1000", "192.0.2.3:1000"} {
			w := serve(h, client)
			codes = append(codes, w.Code)
			assert.Equal(t, `"per-ip";q=1;w=1`, w.Header().Get("RateLimit-Policy"), client)
			assert.Equal(t, `"per-ip";r=0;t=1`, w.Header().Get("RateLimit"), client)
		}
		assert.Equal(t, []int{200, 200, 200}, codes, "each client has its own bucket")
		assert.Equal(t, 3, k.Len())

		w := serve(h, "192.0.2.1:2000") // the first client again, from another port
		assert.Equal(t, 429, w.Code)
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
		assert.Equal(t, `"per-ip";q=1;w=1`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, `"per-ip";r=0;t=1`, w.Header().Get("RateLimit"), "t names the moment of Retry-After")

		time.Sleep(time.Second)
		assert.Equal(t, 200, serve(h, "192.0.2.1:2000").Code)
	})
}

// TestServerHeaderModes: the headers of a Limiter under resilience.Handler,
// on 200 and on 429, for each HeaderMode.
func TestServerHeaderModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode                  ratelimit.HeaderMode
		draft, legacy         bool
		okLegacy, refLegacy   []string // X-RateLimit-Limit, -Remaining, -Reset
		okDraft, refusedDraft string
	}{
		{ratelimit.DraftHeaders, true, false, nil, nil, `"api";r=1;t=5`, `"api";r=0;t=5`},
		{ratelimit.DraftAndLegacyHeaders, true, true, []string{"2", "1", "5"}, []string{"2", "0", "10"}, `"api";r=1;t=5`, `"api";r=0;t=5`},
		{ratelimit.NoHeaders, false, false, nil, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(int(tt.mode)), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := ratelimit.New(rate.Every(5*time.Second), 2, ratelimit.Config{Name: "api", Headers: tt.mode})
				h := resilience.Handler(okHandler, l)
				ok := serve(h, "192.0.2.1:1")
				require.Equal(t, 200, ok.Code)
				serve(h, "192.0.2.1:1")
				refused := serve(h, "192.0.2.1:1")
				require.Equal(t, 429, refused.Code)
				assert.Equal(t, "5", refused.Header().Get("Retry-After"), "always sent")
				for _, w := range []*httptest.ResponseRecorder{ok, refused} {
					if tt.draft {
						assert.Equal(t, `"api";q=2;w=10`, w.Header().Get("RateLimit-Policy"))
					} else {
						assert.Empty(t, w.Header().Get("RateLimit-Policy"))
					}
				}
				assert.Equal(t, tt.okDraft, ok.Header().Get("RateLimit"))
				assert.Equal(t, tt.refusedDraft, refused.Header().Get("RateLimit"))
				legacy := func(w *httptest.ResponseRecorder) []string {
					if w.Header().Get("X-RateLimit-Limit") == "" {
						return nil
					}
					return []string{w.Header().Get("X-RateLimit-Limit"), w.Header().Get("X-RateLimit-Remaining"), w.Header().Get("X-RateLimit-Reset")}
				}
				assert.Equal(t, tt.okLegacy, legacy(ok))
				assert.Equal(t, tt.refLegacy, legacy(refused))
			})
		})
	}
}

// TestServerCost: Config.Cost reads the request from the context; a cost
// above the burst is refused for good, a cost of 0 is free.
func TestServerCost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cost := func(ctx context.Context) int {
			if r := resilience.RequestFrom(ctx); r != nil {
				return len(r.Header.Get("X-Cost"))
			}
			return 1
		}
		k := ratelimit.NewGroup(1, 10, ratelimit.GroupConfig{Config: ratelimit.Config{Cost: cost}})
		h := resilience.NewHandler(okHandler, resilience.HandlerConfig{Key: httpkey.Header("X-Api-Key", nil)}, k)
		w := serve(h, "192.0.2.1:1", "X-Api-Key", "k1", "X-Cost", "xxxxxxx")
		assert.Equal(t, 200, w.Code)
		assert.Equal(t, `"default";r=3;t=7`, w.Header().Get("RateLimit"))
		w = serve(h, "192.0.2.1:1", "X-Api-Key", "k1", "X-Cost", "xxxx")
		assert.Equal(t, 429, w.Code)
		assert.Equal(t, "1", w.Header().Get("Retry-After"), "one more token is due in a second")
		w = serve(h, "192.0.2.1:1", "X-Api-Key", "k1", "X-Cost", strings.Repeat("x", 11))
		assert.Equal(t, 429, w.Code, "more than the burst: never")
		assert.Empty(t, w.Header().Get("Retry-After"))
		assert.Equal(t, 200, serve(h, "192.0.2.1:1", "X-Api-Key", "k1").Code, "cost 0 is free")
		assert.Equal(t, 200, serve(h, "192.0.2.1:1", "X-Api-Key", "k2", "X-Cost", "xxxxxxxxxx").Code, "k2 has its own bucket")

		l := ratelimit.New(1, 2, ratelimit.Config{Cost: cost})
		require.NoError(t, l.Do(context.Background(), nop), "outside a Handler the cost func sees no request")
		require.NoError(t, l.Do(context.Background(), nop))
		require.ErrorIs(t, l.Do(context.Background(), nop), ratelimit.ErrLimited)
	})
}

// TestServerDryRun: in dry-run every request goes through, without
// rate-limit headers, and the would-be refusals reach OnLimited with the
// request in their context.
func TestServerDryRun(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var limited []string
	onLimited := func(ctx context.Context, e *ratelimit.LimitedError) {
		mu.Lock()
		defer mu.Unlock()
		limited = append(limited, e.Key()+" "+resilience.RequestFrom(ctx).RemoteAddr+" "+e.Reason().String())
	}
	cfg := ratelimit.Config{DryRun: true, OnLimited: onLimited}
	for name, p := range map[string]resilience.Policy{
		"Limiter": ratelimit.New(rate.Every(time.Hour), 1, cfg),
		"Group":   ratelimit.NewGroup(rate.Every(time.Hour), 1, ratelimit.GroupConfig{Config: cfg}),
	} {
		mu.Lock()
		limited = nil
		mu.Unlock()
		h := resilience.Handler(okHandler, p)
		for range 3 {
			w := serve(h, "192.0.2.1:1")
			assert.Equal(t, 200, w.Code, name)
			assert.Equal(t, "ok", w.Body.String(), name)
			assert.Empty(t, w.Header().Get("RateLimit"), name)
			assert.Empty(t, w.Header().Get("Retry-After"), name)
		}
		key := ""
		if name == "Group" {
			key = "192.0.2.1"
		}
		want := key + " 192.0.2.1:1 rate exceeded"
		mu.Lock()
		assert.Equal(t, []string{want, want}, limited, name)
		mu.Unlock()
	}
}

// TestServerReject: HandlerConfig.Reject writes the answer to a refusal;
// the limiter's headers and Retry-After are already set.
func TestServerReject(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(rate.Every(time.Minute), 1, ratelimit.Config{})
	h := resilience.NewHandler(okHandler, resilience.HandlerConfig{
		Reject: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(resilience.RejectionStatus(err))
			_, _ = io.WriteString(w, `{"title":"slow down"}`)
		},
	}, l)
	serve(h, "192.0.2.1:1")
	w := serve(h, "192.0.2.1:1")
	assert.Equal(t, 429, w.Code)
	assert.Equal(t, `{"title":"slow down"}`, w.Body.String())
	assert.Equal(t, "60", w.Header().Get("Retry-After"))
	assert.Equal(t, `"default";r=0;t=60`, w.Header().Get("RateLimit"))
}

// TestServerNoHeadersOutsideHandler: without resilience.Handler there is no
// response header, and Do writes nothing; rate.Inf announces no quota.
func TestServerNoHeadersOutsideHandler(t *testing.T) {
	t.Parallel()
	assert.Nil(t, resilience.ResponseHeader(context.Background()))
	require.NoError(t, ratelimit.New(1, 1, ratelimit.Config{}).Do(context.Background(), nop))
	w := serve(resilience.Handler(okHandler, ratelimit.New(rate.Inf, 0, ratelimit.Config{}), ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{})), "192.0.2.1:1")
	assert.Equal(t, 200, w.Code)
	assert.Empty(t, w.Header().Get("RateLimit"))
	assert.Empty(t, w.Header().Get("RateLimit-Policy"))
}

// TestServerRateZeroQuota: a bucket that never refills announces no window
// and no reset.
func TestServerRateZeroQuota(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]resilience.Policy{"Limiter": ratelimit.New(0, 2, ratelimit.Config{}), "Group": ratelimit.NewGroup(0, 2, ratelimit.GroupConfig{})} {
		h := resilience.Handler(okHandler, p)
		w := serve(h, "192.0.2.1:1")
		assert.Equal(t, 200, w.Code, name)
		assert.Equal(t, `"default";q=2`, w.Header().Get("RateLimit-Policy"), name)
		assert.Equal(t, `"default";r=1`, w.Header().Get("RateLimit"), name)
		serve(h, "192.0.2.1:1")
		w = serve(h, "192.0.2.1:1")
		assert.Equal(t, 429, w.Code, name)
		assert.Empty(t, w.Header().Get("Retry-After"), name)
		assert.Equal(t, `"default";r=0`, w.Header().Get("RateLimit"), name)
	}
}

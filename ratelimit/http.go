package ratelimit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/httpkey"
)

// HTTPConfig holds the optional settings of [Handler]. The zero value keys
// requests by client address (no trusted proxy), charges one token per
// request and writes the RateLimit and RateLimit-Policy headers.
type HTTPConfig struct {
	// Key returns the key of a request; nil means httpkey.ClientIP(httpkey.IPConfig{}), the
	// address of the TCP peer. Behind a proxy, use httpkey.ClientIP with
	// TrustedProxies; for API keys, httpkey.Header.
	Key httpkey.Func

	// Cost returns how many tokens a request takes (an expensive search 10,
	// a cached page 1); nil means 1 for every request. A cost of 0 is
	// free. Negative costs count as 0.
	Cost func(r *http.Request) int

	// DryRun decides every request and reports refusals to OnLimited, but
	// lets every request through and writes no rate-limit header: a way to
	// try a limit on live traffic before enforcing it.
	DryRun bool

	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds until the bucket is full) for clients
	// that read the old, unstandardised fields.
	LegacyHeaders bool

	// NoHeaders leaves out the RateLimit and RateLimit-Policy headers
	// (Retry-After is still sent with a 429).
	NoHeaders bool

	// OnLimited, if not nil, is called for each refused request (also in
	// dry-run), before the answer is written. It must be safe for
	// concurrent use.
	OnLimited func(r *http.Request, key string, d Decision)

	// Limited, if not nil, writes the answer to a refused request instead
	// of the default plain-text 429 Too Many Requests. The Retry-After and
	// rate-limit headers are already set when it runs.
	Limited http.Handler
}

// Handler returns a handler that rate-limits the requests to next with t:
// a [Limiter] for one global quota, a [Keyed] limiter for a quota per
// client, API key or tier, or the distributed limiter of package
// ratelimit/redis. Each request takes HTTPConfig.Cost tokens from the
// bucket of its key, without waiting. A refused request is answered 429
// Too Many Requests with a Retry-After header (whole seconds, rounded up)
// and next is not called.
//
// Every answer carries the headers of draft-ietf-httpapi-ratelimit-headers:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// q is the burst, w the seconds the bucket takes to refill completely, r
// the tokens left and t the seconds until the bucket is full again (on a
// refusal: until the request would fit, the same moment as Retry-After).
// The policy name is Limit.Name, "default" when empty. Headers are left
// out when the decision carries no bucket state (a distributed limiter
// failing open).
//
// When t cannot decide (an unavailable store configured to fail closed),
// the request is answered with the status of the error's HTTPStatus method
// (503 for such a store) or 503, with its Retry-After when it has one.
//
// Handler panics if t is nil or more than one HTTPConfig is given.
func Handler(next http.Handler, t Taker, cfg ...HTTPConfig) http.Handler {
	if t == nil {
		panic("ratelimit: Handler with a nil Taker")
	}
	c := oneConfig(cfg)
	if c.Key == nil {
		c.Key = httpkey.ClientIP(httpkey.IPConfig{})
	}
	return &rateHandler{next: next, t: t, c: c}
}

type rateHandler struct {
	next http.Handler
	t    Taker
	c    HTTPConfig
}

func (h *rateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := h.c.Key(r)
	cost := 1
	if h.c.Cost != nil {
		cost = max(0, h.c.Cost(r))
	}
	d, err := h.t.Take(r.Context(), key, cost)
	if err != nil {
		if h.c.DryRun {
			h.next.ServeHTTP(w, r)
			return
		}
		writeError(w, err)
		return
	}
	if !h.c.DryRun {
		h.writeHeaders(w.Header(), d)
	}
	if d.Allowed {
		h.next.ServeHTTP(w, r)
		return
	}
	if h.c.OnLimited != nil {
		h.c.OnLimited(r, key, d)
	}
	if h.c.DryRun {
		h.next.ServeHTTP(w, r)
		return
	}
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
	}
	if h.c.Limited != nil {
		h.c.Limited.ServeHTTP(w, r)
		return
	}
	writeStatus(w, http.StatusTooManyRequests)
}

func (h *rateHandler) writeHeaders(hd http.Header, d Decision) {
	if d.Remaining < 0 {
		return
	}
	if !h.c.NoHeaders {
		var buf [96]byte
		hd["Ratelimit-Policy"] = []string{string(AppendRateLimitPolicy(buf[:0], d.Limit))}
		hd["Ratelimit"] = []string{string(AppendRateLimit(buf[:0], d))}
	}
	if h.c.LegacyHeaders {
		hd["X-Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit.Burst)}
		hd["X-Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		hd["X-Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
	}
}

// writeError answers a request the limiter could not decide.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) && hs.HTTPStatus() >= 400 && hs.HTTPStatus() <= 599 {
		code = hs.HTTPStatus()
	}
	if d, ok := resilience.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(d), 10))
	}
	writeStatus(w, code)
}

func writeStatus(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, fmt.Sprintln(http.StatusText(code)))
}

package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/ratelimit/header"
)

// policy returns the RateLimit-Policy item that describes q: the quota is
// the burst and the window the time an empty bucket takes to fill, so a
// client that spends the quota every window stays within the limit.
func (q Quota) policy() header.QuotaPolicy {
	p := header.QuotaPolicy{Name: q.name(), Quota: int64(q.Burst)}
	if w := q.Window(); w < math.MaxInt64 {
		p.Window = w
	}
	return p
}

// serviceLimit returns the RateLimit item of d: the remaining quota and the
// time until it is full again, or for a refusal with a RetryAfter that
// wait, so that t and the Retry-After header name the same moment, as the
// draft asks. t is left out for a bucket that never refills (Rate 0).
func (d Decision) serviceLimit() header.ServiceLimit {
	s := header.ServiceLimit{Name: d.Quota.name(), Remaining: int64(max(0, d.Remaining)), Reset: d.Reset}
	if !d.Allowed && d.RetryAfter > 0 {
		s.Reset = d.RetryAfter
	}
	if s.Reset == never {
		s.Reset = -1
	}
	return s
}

// ceilSeconds rounds d up to whole seconds, as the headers carry them.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// SetHeaders sets in h the rate-limit headers that describe d, as mode
// says; it is what the Do method of every limiter of this package and of
// ratelimit/redis does under resilience.Handler. With [DraftHeaders]:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// q is the burst, w the seconds the bucket takes to refill completely
// (rounded up, at least 1), r the tokens left and t the seconds until the
// bucket is full again, or on a refusal until the call would fit: the
// moment of Retry-After, as the draft asks (t is left out for a bucket
// that never refills). Package ratelimit/header writes and parses the
// fields. [DraftAndLegacyHeaders]
// adds X-RateLimit-Limit (the burst), X-RateLimit-Remaining and
// X-RateLimit-Reset (seconds until full). The policy name is Quota.Name,
// "default" when empty. Nothing is set when the decision carries no
// bucket state (Remaining -1: a distributed limiter failing open) or the
// limit is rate.Inf (no quota to announce).
func (d Decision) SetHeaders(h http.Header, mode HeaderMode) {
	if d.Remaining < 0 || d.Quota.Rate == rate.Inf || mode == NoHeaders {
		return
	}
	var buf [96]byte
	h["Ratelimit-Policy"] = []string{string(header.AppendRateLimitPolicy(buf[:0], d.Quota.policy()))}
	h["Ratelimit"] = []string{string(header.AppendRateLimit(buf[:0], d.serviceLimit()))}
	if mode == DraftAndLegacyHeaders {
		h["X-Ratelimit-Limit"] = []string{strconv.Itoa(d.Quota.Burst)}
		h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		if d.Reset != never {
			h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
		}
	}
}

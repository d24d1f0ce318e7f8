package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// The header fields of draft-ietf-httpapi-ratelimit-headers (revision 10):
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// Both are Structured Field Lists of Items whose value is a String naming a
// quota policy. RateLimit-Policy states each policy: q the quota (required),
// w the window in seconds, qu the quota unit, pk the partition key.
// RateLimit states what is left: r the remaining quota (required), t the
// seconds until the quota resets, pk the partition key.

// QuotaPolicy is one item of a RateLimit-Policy header.
type QuotaPolicy struct {
	// Name identifies the policy (the item's value).
	Name string
	// Quota is the "q" parameter: the quota allocated.
	Quota int64
	// Window is the "w" parameter; 0 when absent (a present "w" is
	// positive).
	Window time.Duration
	// Unit is the "qu" parameter ("" when absent, which means "requests").
	Unit string
	// PartitionKey is the "pk" parameter, still base64-encoded; "" when
	// absent.
	PartitionKey string
}

// ServiceLimit is one item of a RateLimit header.
type ServiceLimit struct {
	// Name identifies the policy the limit belongs to.
	Name string
	// Remaining is the "r" parameter: the quota units left.
	Remaining int64
	// Reset is the "t" parameter: how long until the quota resets; 0 when
	// absent.
	Reset time.Duration
	// PartitionKey is the "pk" parameter, still base64-encoded.
	PartitionKey string
}

// ParseRateLimitPolicy parses the value of a RateLimit-Policy header. Items
// whose value is a Token instead of a String (as earlier drafts wrote them)
// are accepted. It fails on a malformed field, a missing or negative "q",
// or a "w" that is not a positive integer (a window of 0 seconds is no
// window), in which case the draft says to ignore the field. An empty value
// yields no items and no error.
func ParseRateLimitPolicy(v string) ([]QuotaPolicy, error) {
	items, err := parseSFList(v)
	if err != nil {
		return nil, err
	}
	out := make([]QuotaPolicy, 0, len(items))
	for _, it := range items {
		if it.val.kind != sfString && it.val.kind != sfToken {
			return nil, errSyntax
		}
		q := QuotaPolicy{Name: it.val.str, Quota: -1}
		for _, p := range it.params {
			switch p.key {
			case "q":
				if p.val.kind != sfInteger || p.val.num < 0 {
					return nil, errSyntax
				}
				q.Quota = p.val.num
			case "w":
				if p.val.kind != sfInteger || p.val.num <= 0 {
					return nil, errSyntax
				}
				q.Window = seconds(p.val.num)
			case "qu":
				if p.val.kind != sfString && p.val.kind != sfToken {
					return nil, errSyntax
				}
				q.Unit = p.val.str
			case "pk":
				if p.val.kind != sfBytes {
					return nil, errSyntax
				}
				q.PartitionKey = p.val.str
			}
		}
		if q.Quota < 0 {
			return nil, errSyntax
		}
		out = append(out, q)
	}
	return out, nil
}

// ParseRateLimit parses the value of a RateLimit header. It fails on a
// malformed field or a missing or negative "r" or "t". An empty value
// yields no items and no error.
func ParseRateLimit(v string) ([]ServiceLimit, error) {
	items, err := parseSFList(v)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceLimit, 0, len(items))
	for _, it := range items {
		if it.val.kind != sfString && it.val.kind != sfToken {
			return nil, errSyntax
		}
		s := ServiceLimit{Name: it.val.str, Remaining: -1}
		for _, p := range it.params {
			switch p.key {
			case "r":
				if p.val.kind != sfInteger || p.val.num < 0 {
					return nil, errSyntax
				}
				s.Remaining = p.val.num
			case "t":
				if p.val.kind != sfInteger || p.val.num < 0 {
					return nil, errSyntax
				}
				s.Reset = seconds(p.val.num)
			case "pk":
				if p.val.kind != sfBytes {
					return nil, errSyntax
				}
				s.PartitionKey = p.val.str
			}
		}
		if s.Remaining < 0 {
			return nil, errSyntax
		}
		out = append(out, s)
	}
	return out, nil
}

// seconds converts a non-negative count of seconds, saturating.
func seconds(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}

// ceilSeconds rounds d up to whole seconds, as the headers carry them.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// AppendRateLimitPolicy appends the RateLimit-Policy item that describes l:
// the quota q is the burst and the window w the time an empty bucket takes
// to fill (rounded up to a second, at least 1), so a client that spends q
// units every w seconds stays within the limit.
func AppendRateLimitPolicy(b []byte, l Limit) []byte {
	b = appendSFString(b, l.name())
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(l.Burst), 10)
	if w := l.Window(); w > 0 && w < math.MaxInt64 {
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, max(1, ceilSeconds(w)), 10)
	}
	return b
}

// AppendRateLimit appends the RateLimit item for a decision: r is the
// remaining quota and t the seconds until it is full again, rounded up. For
// a refusal with a RetryAfter, t is that wait instead, so that t and the
// Retry-After header name the same moment, as the draft asks. t is left
// out for a bucket that never refills (Rate 0).
func AppendRateLimit(b []byte, d Decision) []byte {
	b = appendSFString(b, d.Limit.name())
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(max(0, d.Remaining)), 10)
	t := d.Reset
	if !d.Allowed && d.RetryAfter > 0 {
		t = d.RetryAfter
	}
	if t == never {
		return b
	}
	b = append(b, ";t="...)
	return strconv.AppendInt(b, ceilSeconds(t), 10)
}

// SetHeaders sets in h the rate-limit headers that describe d, as mode
// says; it is what the Do method of every limiter of this package and of
// ratelimit/redis does under resilience.Handler. With [DraftHeaders]:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// q is the burst, w the seconds the bucket takes to refill completely
// (see [AppendRateLimitPolicy]), r the tokens left and t the seconds until
// the bucket is full again, or on a refusal until the call would fit: the
// moment of Retry-After (see [AppendRateLimit]). [DraftAndLegacyHeaders]
// adds X-RateLimit-Limit (the burst), X-RateLimit-Remaining and
// X-RateLimit-Reset (seconds until full). The policy name is Limit.Name,
// "default" when empty. Nothing is set when the decision carries no
// bucket state (Remaining -1: a distributed limiter failing open) or the
// limit is rate.Inf (no quota to announce).
func (d Decision) SetHeaders(h http.Header, mode HeaderMode) {
	if d.Remaining < 0 || d.Limit.Rate == rate.Inf || mode == NoHeaders {
		return
	}
	var buf [96]byte
	h["Ratelimit-Policy"] = []string{string(AppendRateLimitPolicy(buf[:0], d.Limit))}
	h["Ratelimit"] = []string{string(AppendRateLimit(buf[:0], d))}
	if mode == DraftAndLegacyHeaders {
		h["X-Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit.Burst)}
		h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		if d.Reset != never {
			h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
		}
	}
}

// Package header reads and writes the RateLimit and RateLimit-Policy
// header fields of draft-ietf-httpapi-ratelimit-headers (revision 10):
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// Both are Structured Field Lists of Items whose value is a String naming a
// quota policy. RateLimit-Policy states each policy ([QuotaPolicy]): q the
// quota (required), w the window in seconds, qu the quota unit, pk the
// partition key. RateLimit states what is left ([ServiceLimit]): r the
// remaining quota (required), t the seconds until the quota resets, pk the
// partition key. The package implements the small part of HTTP Structured
// Fields (RFC 9651) they use: a List of Items with Parameters.
//
// [ParseRateLimit] and [ParseRateLimitPolicy]
// read them on the client side; [AppendRateLimit] and
// [AppendRateLimitPolicy] write them without allocating beyond the buffer
// given. The limiters of package ratelimit and ratelimit/redis write these
// fields under resilience.Handler through this package.
package header

import (
	"math"
	"strconv"
	"time"
)

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
	// absent. [AppendRateLimit] leaves t out when Reset is negative.
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

// AppendRateLimitPolicy appends the RateLimit-Policy item of p: its Name
// as a String, "q", "w" when Window is positive (in seconds, rounded up,
// at least 1), and "qu" and "pk" when set (PartitionKey is written as
// given, already base64). Characters a String cannot hold (controls,
// non-ASCII) become '?'.
func AppendRateLimitPolicy(b []byte, p QuotaPolicy) []byte {
	b = appendSFString(b, p.Name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, max(0, p.Quota), 10)
	if p.Window > 0 {
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, max(1, ceilSeconds(p.Window)), 10)
	}
	if p.Unit != "" {
		b = append(b, ";qu="...)
		b = appendSFString(b, p.Unit)
	}
	return appendPK(b, p.PartitionKey)
}

// AppendRateLimit appends the RateLimit item of s: its Name as a String,
// "r" (negative counts as 0), "t" in seconds rounded up unless Reset is
// negative (a quota that never resets: t left out), and "pk" when set.
func AppendRateLimit(b []byte, s ServiceLimit) []byte {
	b = appendSFString(b, s.Name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(0, s.Remaining), 10)
	if s.Reset >= 0 {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, ceilSeconds(s.Reset), 10)
	}
	return appendPK(b, s.PartitionKey)
}

func appendPK(b []byte, pk string) []byte {
	if pk == "" {
		return b
	}
	b = append(b, ";pk=:"...)
	b = append(b, pk...)
	return append(b, ':')
}

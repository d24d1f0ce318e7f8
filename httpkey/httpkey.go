// Package httpkey finds who is asking: it turns an HTTP request into the key
// that per-key policies (a rate limit, a bulkhead or a breaker per client) use
// under resilience.Handler. [ClientIP] keys by the client's address, trusting
// forwarding headers only from the proxies you name; [Header] keys by a header
// such as an API key. Keys are bounded in length ([MaxLen]).
//
// Every function here is safe for concurrent use; the Funcs they return keep
// no state.
package httpkey

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// A Func returns the key of an HTTP request: who is asking, for the keyed
// policies (a rate limit, bulkhead or breaker per client) under
// resilience.Handler. [ClientIP] and [Header] make the usual ones.
type Func func(r *http.Request) string

// IPConfig says how to find the client's address behind proxies and how to
// group addresses into keys. The zero value trusts no proxy (the key is the
// address of the TCP peer) and groups IPv6 clients by /64.
type IPConfig struct {
	// TrustedProxies lists the networks of the proxies and load balancers
	// in front of the server. Their forwarding header is believed; anyone
	// else can write any address into such a header, so it is ignored when
	// the request does not come from a trusted proxy. The client address
	// is the rightmost address in the header that is not a trusted proxy.
	TrustedProxies []netip.Prefix

	// Header is the forwarding header the trusted proxies set:
	// "X-Forwarded-For" (the default when "") or "Forwarded" (RFC 7239).
	// Only one is read: a proxy that sets one passes the other through
	// from the client unchecked.
	Header string

	// IPv6Prefix is the prefix length IPv6 clients are grouped by; 0 means
	// 64, as one subscriber usually holds a whole /64 and could otherwise
	// take a fresh key per request. 128 keys each address.
	IPv6Prefix int

	// IPv4Prefix is the prefix length IPv4 clients are grouped by; 0 means
	// 32 (each address).
	IPv4Prefix int
}

func (c IPConfig) check() {
	if c.Header != "" && !strings.EqualFold(c.Header, "X-Forwarded-For") && !strings.EqualFold(c.Header, "Forwarded") {
		panic(fmt.Sprintf("httpkey: IPConfig.Header %q: want X-Forwarded-For or Forwarded", c.Header))
	}
	if c.IPv6Prefix < 0 || c.IPv6Prefix > 128 || c.IPv4Prefix < 0 || c.IPv4Prefix > 32 {
		panic(fmt.Sprintf("httpkey: IPConfig prefixes /%d (IPv6) and /%d (IPv4) out of range", c.IPv6Prefix, c.IPv4Prefix))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			panic("httpkey: IPConfig.TrustedProxies holds an invalid prefix")
		}
	}
}

// ClientIP returns the address of the client that sent r: the TCP peer
// (r.RemoteAddr), or, when the peer is a trusted proxy, the address its
// forwarding header names (see [IPConfig]). IPv4-mapped IPv6 addresses are
// returned as IPv4. It returns the zero Addr when r.RemoteAddr is not an
// address (as with some test servers). It panics if cfg is invalid.
func Addr(r *http.Request, cfg IPConfig) netip.Addr {
	cfg.check()
	return clientIP(r, &cfg)
}

func clientIP(r *http.Request, cfg *IPConfig) netip.Addr {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !trusted(peer, cfg.TrustedProxies) {
		return peer
	}
	var hops []string
	if strings.EqualFold(cfg.Header, "Forwarded") {
		if hops, ok = forwardedFor(r.Header.Values("Forwarded")); !ok {
			return peer
		}
	} else {
		hops = xForwardedFor(r.Header.Values("X-Forwarded-For"))
	}
	return rightmostUntrusted(peer, hops, cfg.TrustedProxies)
}

// rightmostUntrusted walks the hops from the nearest to the farthest and
// returns the first address that is not a trusted proxy. A hop that is not
// an address (unknown, obfuscated, malformed) ends the walk at the last
// address known, which is a trusted proxy: its word about anything farther
// cannot be checked.
func rightmostUntrusted(peer netip.Addr, hops []string, proxies []netip.Prefix) netip.Addr {
	cur := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHost(hops[i])
		if !ok {
			return cur
		}
		cur = a
		if !trusted(a, proxies) {
			return a
		}
	}
	return cur
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost parses an address with or without a port: "192.0.2.1",
// "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]:443", "[2001:db8::1]".
// Zones are dropped and IPv4-mapped addresses unmapped.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	// "192.0.2.1:443" (one colon) and "[...]..." have a port or brackets;
	// anything else should be a bare address. Trying the right parse first
	// keeps the usual RemoteAddr free of a failed parse's error value.
	if s[0] != '[' && strings.Count(s, ":") != 1 {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.WithZone("").Unmap(), true
		}
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		host = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// xForwardedFor splits X-Forwarded-For header lines into hops, in order.
func xForwardedFor(lines []string) []string {
	var hops []string
	for _, l := range lines {
		for part := range strings.SplitSeq(l, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	return hops
}

// forwardedFor returns the "for" value of each element of Forwarded header
// lines (RFC 7239), in order; an element without one yields "". It reports
// false when the header is malformed.
func forwardedFor(lines []string) ([]string, bool) {
	var hops []string
	for _, l := range lines {
		i := 0
		for {
			// One forwarded-element: pairs separated by ';'.
			forVal := ""
			for {
				for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
					i++
				}
				if i < len(l) && l[i] != ',' && l[i] != ';' {
					start := i
					for i < len(l) && isTChar(l[i]) {
						i++
					}
					name := l[start:i]
					if name == "" || i >= len(l) || l[i] != '=' {
						return nil, false
					}
					i++
					var val string
					if i < len(l) && l[i] == '"' {
						v, n, ok := quoted(l[i:])
						if !ok {
							return nil, false
						}
						val, i = v, i+n
					} else {
						start := i
						for i < len(l) && isTChar(l[i]) {
							i++
						}
						val = l[start:i]
					}
					if strings.EqualFold(name, "for") {
						forVal = val
					}
					for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
						i++
					}
				}
				if i < len(l) && l[i] == ';' {
					i++
					continue
				}
				break
			}
			if i < len(l) && l[i] != ',' {
				return nil, false
			}
			hops = append(hops, forVal)
			if i >= len(l) {
				break
			}
			i++ // ','
		}
	}
	return hops, true
}

// quoted reads a quoted-string at the start of s, returning its unescaped
// value and the bytes consumed.
func quoted(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// ClientIP returns a Func that keys requests by client address, found with
// [Addr] and grouped by the prefixes of cfg: "192.0.2.7" or
// "2001:db8:1:2::/64". A request whose address cannot be found is keyed by
// its RemoteAddr as it is. It panics if cfg is invalid.
func ClientIP(cfg IPConfig) Func {
	cfg.check()
	if cfg.IPv6Prefix == 0 {
		cfg.IPv6Prefix = 64
	}
	if cfg.IPv4Prefix == 0 {
		cfg.IPv4Prefix = 32
	}
	return func(r *http.Request) string {
		a := clientIP(r, &cfg)
		if !a.IsValid() {
			return r.RemoteAddr
		}
		if a.Is4() && cfg.IPv4Prefix == 32 {
			// The usual case, an IPv4 peer: its address as RemoteAddr
			// spells it, without formatting it again. netip rejects
			// IPv4 fields with leading zeros, so the text is canonical.
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				if b, err := netip.ParseAddr(host); err == nil && b == a {
					return host
				}
			}
		}
		return maskKey(a, cfg.IPv4Prefix, cfg.IPv6Prefix)
	}
}

func maskKey(a netip.Addr, v4, v6 int) string {
	bits := v6
	if a.Is4() {
		bits = v4
	}
	if bits == a.BitLen() {
		return a.String()
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// MaxLen is the longest key [Header] uses as it is; longer values are
// replaced by a hash, so that a client cannot make a keyed policy store
// megabytes per key.
const MaxLen = 128

// Header returns a Func that keys requests by the value of header
// name, such as an API key header; requests without it get the key of
// fallback, or "" when fallback is nil. The value is prefixed with the
// header name, so that it never collides with an address from fallback, and
// values longer than MaxLen are replaced by their SHA-256.
func Header(name string, fallback Func) Func {
	name = http.CanonicalHeaderKey(name)
	prefix := strings.ToLower(name) + ":"
	return func(r *http.Request) string {
		v := r.Header.Get(name)
		if v == "" {
			if fallback != nil {
				return fallback(r)
			}
			return ""
		}
		if len(v) > MaxLen {
			sum := sha256.Sum256([]byte(v))
			v = "sha256:" + hex.EncodeToString(sum[:])
		}
		return prefix + v
	}
}

// isTChar reports whether c may appear in an RFC 9110 token.
func isTChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

package httpkey

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddr(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name   string
		remote string
		header string // "" = X-Forwarded-For
		values []string
		want   string
	}{
		{"no proxy", "203.0.113.5:4000", "", nil, "203.0.113.5"},
		{"spoofed header from an untrusted peer", "203.0.113.5:4000", "", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy without header", "10.0.0.1:80", "", nil, "10.0.0.1"},
		{"one proxy", "10.0.0.1:80", "", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client prepends a fake", "10.0.0.1:80", "", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"two proxies", "10.0.0.1:80", "", []string{"198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"several header lines", "10.0.0.1:80", "", []string{"6.6.6.6", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"all trusted", "10.0.0.1:80", "", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
		{"garbage hop stops at the proxy", "10.0.0.1:80", "", []string{"198.51.100.7, nonsense"}, "10.0.0.1"},
		{"ports and brackets", "10.0.0.1:80", "", []string{"[2001:db8::7]:5555, 198.51.100.7:80"}, "198.51.100.7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:443", "", []string{"2001:db8:1::9"}, "2001:db8:1::9"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.5]:1", "", nil, "203.0.113.5"},
		{"zone dropped", "[fe80::1%eth0]:1", "", nil, "fe80::1"},
		{"Forwarded", "10.0.0.1:80", "Forwarded", []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, "192.0.2.60"},
		{"Forwarded chain", "10.0.0.1:80", "Forwarded", []string{`for=6.6.6.6, for="[2001:db8:cafe::17]:4711", for=10.2.2.2`}, "2001:db8:cafe::17"},
		{"Forwarded upper-case name", "10.0.0.1:80", "Forwarded", []string{`For=192.0.2.60`}, "192.0.2.60"},
		{"Forwarded obfuscated", "10.0.0.1:80", "Forwarded", []string{`for=_hidden, for=10.2.2.2`}, "10.2.2.2"},
		{"Forwarded unknown", "10.0.0.1:80", "Forwarded", []string{`for=unknown`}, "10.0.0.1"},
		{"Forwarded without for", "10.0.0.1:80", "Forwarded", []string{`proto=https`}, "10.0.0.1"},
		{"Forwarded malformed", "10.0.0.1:80", "Forwarded", []string{`for="192.0.2.60`}, "10.0.0.1"},
		{"Forwarded quoted comma", "10.0.0.1:80", "Forwarded", []string{`for=192.0.2.60;x="a,b"`}, "192.0.2.60"},
		{"Forwarded ignores XFF", "10.0.0.1:80", "Forwarded", nil, "10.0.0.1"},
		{"not an address", "pipe", "", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.header == "Forwarded" {
				r.Header.Set("X-Forwarded-For", "7.7.7.7") // not the configured header: ignored
				for _, v := range tt.values {
					r.Header.Add("Forwarded", v)
				}
			} else {
				r.Header.Set("Forwarded", "for=7.7.7.7") // likewise
				for _, v := range tt.values {
					r.Header.Add("X-Forwarded-For", v)
				}
			}
			got := Addr(r, IPConfig{TrustedProxies: proxies, Header: tt.header})
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg    IPConfig
		remote string
		want   string
	}{
		{IPConfig{}, "192.0.2.1:1", "192.0.2.1"},
		{IPConfig{}, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::/64"},
		{IPConfig{IPv6Prefix: 128}, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2:3:4:5:6"},
		{IPConfig{IPv6Prefix: 48}, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1::/48"},
		{IPConfig{IPv4Prefix: 24}, "192.0.2.99:1", "192.0.2.0/24"},
		{IPConfig{}, "@", "@"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		assert.Equal(t, tt.want, ClientIP(tt.cfg)(r), "%+v %s", tt.cfg, tt.remote)
	}
}

func TestIPConfigPanics(t *testing.T) {
	t.Parallel()
	for _, c := range []IPConfig{{Header: "X-Real-IP"}, {IPv6Prefix: 129}, {IPv4Prefix: -1}, {TrustedProxies: []netip.Prefix{{}}}} {
		assert.Panics(t, func() { ClientIP(c) }, "%+v", c)
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	k := Header("x-api-key", ClientIP(IPConfig{}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1"
	assert.Equal(t, "192.0.2.1", k(r))
	r.Header.Set("X-Api-Key", "abc")
	assert.Equal(t, "x-api-key:abc", k(r))
	r.Header.Set("X-Api-Key", strings.Repeat("a", 1000))
	got := k(r)
	assert.True(t, strings.HasPrefix(got, "x-api-key:sha256:"))
	assert.Len(t, got, len("x-api-key:sha256:")+64)
	assert.Equal(t, "", Header("X", nil)(httptest.NewRequest("GET", "/", nil)))
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{`for=192.0.2.60;proto=http;by=203.0.113.43`, `for="[2001:db8:cafe::17]:4711", for=10.0.0.1`,
		`for=_x;secret="a\"b"`, `,,`, `for="`, `;;for=1.2.3.4`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hops, ok := forwardedFor([]string{s})
		if !ok {
			return
		}
		if len(hops) > len(s)+1 {
			t.Fatalf("%q: %d hops", s, len(hops))
		}
		peer := netip.MustParseAddr("10.0.0.1")
		a := rightmostUntrusted(peer, hops, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		require.True(t, a.IsValid())
	})
}

func FuzzXForwardedFor(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.2", "[::1]:80,::2", "", " , ,", "1.2.3.4:99999"} {
		f.Add(s, "10.0.0.1:80")
	}
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		cfg := IPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::/0")}}
		a := Addr(r, cfg)
		if _, ok := parseHost(remote); ok != a.IsValid() {
			t.Fatalf("remote %q parses %v but client %v", remote, ok, a)
		}
		if a.IsValid() && (a.Zone() != "" || a.Is4In6()) {
			t.Fatalf("%v not normalised", a)
		}
		_ = ClientIP(IPConfig{})(r)
	})
}

package httpkey_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"

	"github.com/resiliencekit/resilience/httpkey"
)

// With no trusted proxy the key is the TCP peer's address; IPv6 clients
// are grouped by /64, since one subscriber usually holds a whole /64.
func ExampleClientIP() {
	key := httpkey.ClientIP(httpkey.IPConfig{})
	for _, addr := range []string{"192.0.2.7:1234", "[2001:db8:aa:bb:1:2:3:4]:443"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		fmt.Println(key(r))
	}
	// Output:
	// 192.0.2.7
	// 2001:db8:aa:bb::/64
}

// Behind a load balancer, its forwarding header is believed only when the
// request comes from it.
func ExampleClientIP_trustedProxies() {
	key := httpkey.ClientIP(httpkey.IPConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, peer := range []string{"10.0.0.5:80", "203.0.113.9:80"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		fmt.Println(peer, "->", key(r))
	}
	// Output:
	// 10.0.0.5:80 -> 198.51.100.7
	// 203.0.113.9:80 -> 203.0.113.9
}

// An API key identifies the client; requests without one fall back to the
// address.
func ExampleHeader() {
	key := httpkey.Header("X-Api-Key", httpkey.ClientIP(httpkey.IPConfig{}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	fmt.Println(key(r))
	r.Header.Set("X-Api-Key", "k-123")
	fmt.Println(key(r))
	// Output:
	// 192.0.2.7
	// x-api-key:k-123
}

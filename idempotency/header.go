package idempotency

import (
	"net/http"
	"strings"
)

// HeaderName is the request header that carries the key.
const HeaderName = "Idempotency-Key"

// ParseKey returns the idempotency key of a header value. The IETF draft
// draft-ietf-httpapi-idempotency-key-header makes the value a Structured
// Field string: printable ASCII in double quotes, with \" and \\ escaped.
// Since many clients (Stripe's among them) send the key bare, a value
// without quotes is accepted too when it is printable ASCII without spaces,
// quotes or backslashes. An empty key, one longer than maxBytes, or any
// other byte is ErrInvalidKey.
func ParseKey(v string, maxBytes int) (string, error) {
	v = strings.Trim(v, " \t")
	key, ok := v, v != ""
	if ok && v[0] == '"' {
		key, ok = unquote(v)
	} else {
		for i := 0; i < len(v) && ok; i++ {
			c := v[i]
			ok = c > 0x20 && c <= 0x7e && c != '"' && c != '\\'
		}
	}
	if !ok || key == "" || len(key) > maxBytes {
		return "", ErrInvalidKey
	}
	return key, nil
}

// unquote decodes a Structured Field string (RFC 9651, section 3.3.3).
func unquote(v string) (string, bool) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", false
			}
			b.WriteByte(v[i])
		case c == '"':
			return b.String(), i == len(v)-1
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false // no closing quote
}

// requestKey returns the key of r, "" when it has none.
func requestKey(r *http.Request, maxBytes int) (string, error) {
	vs := r.Header.Values(HeaderName)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return ParseKey(vs[0], maxBytes)
	}
	return "", ErrInvalidKey
}

package idempotency

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseKey: a key accepted is non-empty, within the bound and printable
// ASCII, and a quoted key that was accepted decodes what quoting it again
// encodes.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, "abc", `"a\"b\\c"`, `""`, `"a`, "a b", "\x00", `"\x7f"`, "clé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := ParseKey(v, 64)
		if err != nil {
			return
		}
		if key == "" || len(key) > 64 {
			t.Fatalf("ParseKey(%q) = %q", v, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: byte %#x", v, key, key[i])
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if again, err := ParseKey(quoted, 64); err != nil || again != key {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q", quoted, again, err, key)
		}
	})
}

// FuzzDecode: any stored bytes decode or fail without a panic, and an
// encoded response decodes to itself.
func FuzzDecode(f *testing.F) {
	h := http.Header{"Content-Type": {"text/plain"}, "Location": {"/a", "/b"}}
	good, _ := encodeResponse(201, h, []string{"Content-Type", "Location"}, []byte("body"))
	f.Add(good)
	f.Add(encodeNotKept())
	f.Add(encodeValue([]byte(`{"a":1}`)))
	f.Add([]byte{1, 1, 0, 200, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, resp, _, err := decode(b)
		if err != nil || kind != kindResponse {
			return
		}
		names := make([]string, 0, len(resp.header))
		for name := range resp.header {
			names = append(names, name)
		}
		again, ok := encodeResponse(resp.status, resp.header, names, resp.body)
		if !ok {
			return
		}
		kind2, resp2, _, err := decode(again)
		if err != nil || kind2 != kindResponse || resp2.status != resp.status || !bytes.Equal(resp2.body, resp.body) || len(resp2.header) != len(resp.header) {
			t.Fatalf("round trip of %x: %v %+v", b, err, resp2)
		}
	})
}

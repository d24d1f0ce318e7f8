// Package keyed holds what the per-key Groups (breaker, bulkhead,
// ratelimit) share about their keys.
package keyed

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxLen is the longest key a Group holds, in bytes. A longer key is held
// as its hash (see Bound), so that a Group's memory is at most
// MaxKeys × (MaxLen + one instance) whatever its callers send.
const MaxLen = 128

// prefix marks a hashed key.
const prefix = "sha256:"

// Bound returns key if it is at most MaxLen bytes long, and otherwise
// "sha256:" followed by the lowercase hex SHA-256 of key (71 bytes). It
// allocates only for a long key. Two distinct long keys collide only if
// their SHA-256 does; a short key that happens to spell a hash shares
// that hash's instance.
func Bound(key string) string {
	if len(key) <= MaxLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	var b [len(prefix) + 2*sha256.Size]byte
	copy(b[:], prefix)
	hex.Encode(b[len(prefix):], sum[:])
	return string(b[:])
}

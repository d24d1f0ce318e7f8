package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns a new message ID: a version 7 UUID (RFC 9562) in its
// 36-character text form, such as "01936f8e-3c4b-7a1d-9f2e-5b6c7d8e9f01".
//
// The first 48 bits are the Unix time in milliseconds and the next 12 bits
// the fraction of that millisecond (the RFC's "increased clock precision"
// method), so IDs sort as text in the order they were made, to about a
// quarter of a microsecond; the last 62 bits come from crypto/rand, so IDs
// made at the same instant, by any process, still differ. NewID is safe for
// concurrent use and keeps no state.
//
// The outbox orders messages by its own insertion sequence, not by ID: the
// ID only has to be unique, and sorts by time for the convenience of
// people reading tables and logs.
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand panics instead)
	now := time.Now()
	ms := uint64(now.UnixMilli())
	frac := uint64(now.Nanosecond()%int(time.Millisecond)) * 4096 / uint64(time.Millisecond)
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = 0x70 | byte(frac>>8)
	u[7] = byte(frac)
	u[8] = 0x80 | u[8]&0x3f
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

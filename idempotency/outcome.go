package idempotency

import (
	"encoding/binary"
	"errors"
	"net/http"
)

// An outcome is stored as bytes of this format (version 1):
//
//	version  1 byte: 1
//	kind     1 byte: kindResponse, kindNotKept or kindValue
//	then, for kindResponse:
//	status   2 bytes, big endian
//	headers  2 bytes: how many; each a name and a value, each 2 bytes of
//	         length and the bytes
//	body     the rest
//	for kindValue: the JSON of the value, the rest.
const (
	outcomeVersion = 1

	kindResponse = 1
	kindNotKept  = 2
	kindValue    = 3
)

// maxStoredHeaderBytes bounds the headers of a stored response, names and
// values with their lengths.
const maxStoredHeaderBytes = 16 << 10

var errCorrupt = errors.New("idempotency: stored outcome unreadable")

type response struct {
	status int
	header http.Header
	body   []byte
}

// encodeResponse encodes a response; ok is false when its headers are
// beyond maxStoredHeaderBytes.
func encodeResponse(status int, h http.Header, names []string, body []byte) ([]byte, bool) {
	n := 0
	count := 0
	for _, name := range names {
		for _, v := range h[name] {
			n += 4 + len(name) + len(v)
			count++
		}
	}
	if n > maxStoredHeaderBytes {
		return nil, false
	}
	b := make([]byte, 0, 6+n+len(body))
	b = append(b, outcomeVersion, kindResponse)
	b = binary.BigEndian.AppendUint16(b, uint16(status))
	b = binary.BigEndian.AppendUint16(b, uint16(count))
	for _, name := range names {
		for _, v := range h[name] {
			b = appendString(b, name)
			b = appendString(b, v)
		}
	}
	return append(b, body...), true
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func encodeNotKept() []byte { return []byte{outcomeVersion, kindNotKept} }

func encodeValue(js []byte) []byte {
	return append([]byte{outcomeVersion, kindValue}, js...)
}

// decode returns the kind of an outcome and its parts.
func decode(b []byte) (kind byte, resp response, value []byte, err error) {
	if len(b) < 2 || b[0] != outcomeVersion {
		return 0, response{}, nil, errCorrupt
	}
	switch b[1] {
	case kindNotKept:
		if len(b) != 2 {
			return 0, response{}, nil, errCorrupt
		}
		return kindNotKept, response{}, nil, nil
	case kindValue:
		return kindValue, response{}, b[2:], nil
	case kindResponse:
	default:
		return 0, response{}, nil, errCorrupt
	}
	b = b[2:]
	if len(b) < 4 {
		return 0, response{}, nil, errCorrupt
	}
	resp.status = int(binary.BigEndian.Uint16(b))
	count := int(binary.BigEndian.Uint16(b[2:]))
	b = b[4:]
	if resp.status < 100 || resp.status > 999 || count > len(b)/4 {
		return 0, response{}, nil, errCorrupt
	}
	resp.header = make(http.Header, count)
	for range count {
		var name, v string
		var ok bool
		if name, b, ok = readString(b); !ok {
			return 0, response{}, nil, errCorrupt
		}
		if v, b, ok = readString(b); !ok {
			return 0, response{}, nil, errCorrupt
		}
		resp.header[name] = append(resp.header[name], v)
	}
	resp.body = b
	return kindResponse, resp, nil, nil
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

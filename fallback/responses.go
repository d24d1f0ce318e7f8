package fallback

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/keyed"
)

// entryOverhead is what a remembered response counts for beyond its body,
// header and key: the entry, the struct and their pointers, roughly.
const entryOverhead = 256

// warning is the Warning of a stale response (RFC 7234, section 5.5.1).
const warning = `110 - "Response is Stale"`

// storedResponse is a good response, remembered: immutable once stored.
type storedResponse struct {
	status        string
	code          int
	proto         string
	major, minor  int
	header        http.Header
	body          []byte
	contentLength int64
	uncompressed  bool
	age           int64 // the Age it came with, in seconds
}

// responseStore remembers the responses of NewHTTP's round trips.
type responseStore struct {
	lru     *lru[*storedResponse]
	ttl     time.Duration
	maxBody int64
	key     func(*http.Request) string
}

// replayable reports whether a response to req may be remembered and
// answered with: GET and HEAD only.
func replayable(req *http.Request) bool {
	m := method(req)
	return m == http.MethodGet || m == http.MethodHead
}

// storable reports whether resp may be remembered.
func storable(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusNoContent:
	default:
		return false
	}
	for _, v := range resp.Header["Cache-Control"] {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			if len(d) >= 8 && strings.EqualFold(d[:8], "no-store") && (len(d) == 8 || d[8] == '=' || d[8] == ' ') {
				return false
			}
		}
	}
	return true
}

func (s *responseStore) remember(ctx context.Context) {
	resp, ok := resilience.Result[*http.Response](ctx)
	if !ok || resp == nil {
		return
	}
	req := resilience.RequestFrom(ctx)
	if req == nil || !replayable(req) || !storable(resp) || resp.ContentLength > s.maxBody {
		return
	}
	k := s.key(req)
	if k == "" {
		return
	}
	sr := &storedResponse{
		status: resp.Status, code: resp.StatusCode,
		proto: resp.Proto, major: resp.ProtoMajor, minor: resp.ProtoMinor,
		header:        resp.Header.Clone(), // the caller may change resp's
		contentLength: resp.ContentLength,
		uncompressed:  resp.Uncompressed,
	}
	if a, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err == nil && a > 0 {
		sr.age = a
	}
	sr.header.Del("Age")
	k, at := keyed.Bound(k), time.Now()
	if head := method(req) == http.MethodHead; head || resp.ContentLength == 0 || resp.Body == nil || resp.Body == http.NoBody {
		s.store(k, sr, at, nil, head)
		return
	}
	t := &teeBody{ReadCloser: resp.Body, s: s, key: k, sr: sr, at: at, want: resp.ContentLength}
	if resp.ContentLength > 0 {
		t.buf = make([]byte, 0, resp.ContentLength)
	}
	resp.Body = t
}

// store remembers sr with body, which is complete. A HEAD response keeps
// the Content-Length it came with; another gets its body's.
func (s *responseStore) store(key string, sr *storedResponse, at time.Time, body []byte, head bool) {
	sr.body = body
	if !head {
		sr.contentLength = int64(len(body))
	}
	size := int64(len(body)) + int64(len(key)) + entryOverhead
	for name, vs := range sr.header {
		size += int64(len(name))
		for _, v := range vs {
			size += int64(len(v))
		}
	}
	s.lru.put(key, sr, at, size)
}

func (s *responseStore) recall(ctx context.Context) (*http.Response, bool) {
	req := resilience.RequestFrom(ctx)
	if req == nil || !replayable(req) {
		return nil, false
	}
	k := s.key(req)
	if k == "" {
		return nil, false
	}
	now := time.Now()
	sr, at, ok := s.lru.get(keyed.Bound(k), now, s.ttl)
	if !ok {
		return nil, false
	}
	return sr.response(req, now.Sub(at)), true
}

func (s *responseStore) metrics(m *Metrics) { s.lru.metrics(m) }

// response makes a new response of sr, for req, answered age after sr
// was received.
func (sr *storedResponse) response(req *http.Request, age time.Duration) *http.Response {
	h := sr.header.Clone()
	h.Set("Age", strconv.FormatInt(sr.age+int64(age/time.Second), 10))
	h.Add("Warning", warning)
	resp := &http.Response{
		Status: sr.status, StatusCode: sr.code,
		Proto: sr.proto, ProtoMajor: sr.major, ProtoMinor: sr.minor,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: sr.contentLength,
		Uncompressed:  sr.uncompressed,
		Request:       req,
	}
	if len(sr.body) > 0 && method(req) != http.MethodHead {
		resp.Body = io.NopCloser(bytes.NewReader(sr.body))
	}
	return resp
}

// teeBody is the body of a good response handed to the caller: it copies
// what the caller reads, up to MaxBody bytes, and remembers the response
// once the body is complete. Like any body, it is read by one goroutine at
// a time; Close leaves the copy alone (a Read in progress may still finish
// it).
type teeBody struct {
	io.ReadCloser
	s    *responseStore
	key  string
	sr   *storedResponse
	at   time.Time
	want int64 // the Content-Length, or -1
	buf  []byte
	done bool // stored, or given up
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.done {
		return n, err
	}
	switch {
	case int64(len(b.buf)+n) > b.s.maxBody || (err != nil && err != io.EOF):
		b.done, b.buf = true, nil
	default:
		b.buf = append(b.buf, p[:n]...)
		complete := b.want >= 0 && int64(len(b.buf)) == b.want
		if err == io.EOF && (b.want < 0 || complete) || complete {
			b.done = true
			b.s.store(b.key, b.sr, b.at, b.buf, false)
			b.buf = nil
		} else if err == io.EOF {
			b.done, b.buf = true, nil // not the length it said
		}
	}
	return n, err
}

package fallback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/resiliencekit/resilience"
)

// Defaults of the byte bounds of [HTTPConfig].
const (
	// DefaultMaxBody is the largest response body NewHTTP remembers, in
	// bytes, when HTTPConfig.MaxBody is 0: 1 MiB.
	DefaultMaxBody = 1 << 20
	// DefaultMaxBytes bounds all the responses NewHTTP remembers, in
	// bytes, when HTTPConfig.MaxBytes is 0: 32 MiB.
	DefaultMaxBytes = 32 << 20
)

// HTTPConfig holds the optional settings of [NewHTTP]. Every zero field
// means its documented default; the zero value answers every failure but
// the caller's own cancellation with respond's response, and remembers
// nothing.
type HTTPConfig struct {
	// Name, Match and OnFallback are those of [Config]. Match sees the
	// failure of the round trip: a transport error, a rejection (an open
	// breaker), or a *resilience.StatusError for a response that
	// resilience.TransportConfig.Failure calls failed (a 503, say). With
	// DefaultMatch, the expiry of an http.Client's Timeout is not
	// answered: it is the caller's deadline, on the request's context. A
	// timelimit inside the Fallback is a policy's, and its expiry is.
	Name       string
	Match      func(ctx context.Context, err error) bool
	OnFallback func(ctx context.Context, err error, k Kind)

	// Observer, when not nil, is told of each failed round trip that
	// Match accepted, once the fallback answered it, as
	// [Config.Observer] is: an EventFallback with Policy "fallback", Name,
	// the Kind of the answer in snake_case as its Reason ("value" for
	// respond's response, "stale" for a remembered one, ...) and the
	// failure as its Err; see "Events" in the package documentation. It
	// is called on the goroutine of the round trip, with no lock held,
	// before RoundTrip returns. Zero means no observer: nothing is
	// reported and nothing is paid.
	Observer resilience.Observer

	// Stale, when positive, makes the fallback remember the last good
	// response of each request (see Key) and answer a failure with it
	// first, as long as it was received no longer than Stale ago;
	// respond runs only when there is none. resilience.Forever means at
	// any age. Zero means nothing is remembered; other negative values
	// panic.
	//
	// Only GET and HEAD requests are remembered and answered so: other
	// methods change something, and the answer to a past one is not the
	// answer to this one. A response is remembered when its status is 200
	// OK, 203 Non-Authoritative Information or 204 No Content (the 2xx
	// statuses RFC 9111 lets a cache store without being told to; 206
	// Partial Content is a part, not the resource) and it has no
	// Cache-Control: no-store, and only once the caller has read its whole
	// body: to io.EOF, or all of its Content-Length. The body is copied
	// as the caller reads it, which adds no wait; a body closed before its
	// end, one that fails, and one longer than MaxBody are not remembered
	// (the response remembered before for that request, if any, stays). A
	// HEAD response, or one with Content-Length 0, is remembered at once.
	//
	// A remembered response is answered with a body of its own each time
	// (the bytes are shared, read-only; no reader is), a copy of its
	// header, and the caller's request. Its header tells that it is
	// stale: Age is the number of seconds since it was received, plus the
	// Age it came with, and a Warning: 110 - "Response is Stale" is added
	// (RFC 7234's warn-code; RFC 9111 retired the header, and Age alone
	// does not say that a response is past its freshness). Trailers are
	// not kept.
	Stale time.Duration

	// MaxKeys bounds the responses remembered, as [Config.MaxKeys]: zero
	// means DefaultMaxKeys; the least recently received or answered goes
	// first. It must be left zero without Stale.
	MaxKeys int

	// MaxBody is the largest body remembered, in bytes. Zero means
	// DefaultMaxBody (1 MiB). While the caller reads a response, at most
	// MaxBody bytes of it are copied; a response whose Content-Length is
	// larger is not copied at all. It must be left zero without Stale,
	// and not exceed MaxBytes.
	MaxBody int64

	// MaxBytes bounds the bytes of all the responses remembered: bodies,
	// headers (names and values) and keys. Zero means DefaultMaxBytes (32
	// MiB); the least recently used go first to make room. Bodies being
	// copied while their callers read them are not counted until they are
	// complete; each is at most MaxBody. It must be left zero without
	// Stale.
	MaxBytes int64

	// Key returns the key of a request, under which its response is
	// remembered and looked up; "" means neither. It is called for GET
	// and HEAD requests only, with the caller's request. Nil means
	// [DefaultKey]: the method and the URL, and nothing for a request
	// with credentials. It must be left nil without Stale.
	Key func(req *http.Request) string
}

// DefaultKey is the rule of a nil HTTPConfig.Key: the request's method
// and URL (and its Host header, when it names another host than the URL),
// so that a GET and a HEAD of one URL are remembered apart. A request with
// an Authorization or Cookie header gets "", and its response is not
// remembered: it may be one user's own, and answering another user with it
// would leak it. To remember those, give a Key that tells the users apart.
func DefaultKey(req *http.Request) string {
	if _, ok := req.Header["Authorization"]; ok {
		return ""
	}
	if _, ok := req.Header["Cookie"]; ok {
		return ""
	}
	k := method(req) + " " + req.URL.String()
	if req.Host != "" && req.Host != req.URL.Host {
		k += " (Host: " + req.Host + ")"
	}
	return k
}

func method(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

// NewHTTP returns a Fallback for resilience.Transport, configured by c: it
// answers a failed round trip that Match accepts with a response, which
// the caller of RoundTrip gets with a nil error and closes as usual.
//
// respond makes that response from the caller's request (as
// resilience.RequestFrom gives it) and the failure: a dummy ("fail
// silently", see [StaticResponse]), or one from an alternate call (a
// secondary endpoint). It must return a new response each time, with a
// body of its own, never shared. Missing fields are filled in: a nil
// Header, Body or Request becomes an empty header, http.NoBody and the
// caller's request; a zero StatusCode is 200 OK, an empty Status and Proto
// are made to match; a ContentLength of 0 with a body is -1 (unknown). When
// respond fails, Do returns a [*SubstituteError] and closes the body of a
// response respond returned along with its error.
//
// With c.Stale, a failure of a GET or HEAD is answered with the last good
// response to that request first (see HTTPConfig.Stale), and respond runs
// only when there is none; respond may then be nil, and a failure without
// one goes to the caller as it is.
//
// Outside resilience.Transport (under plain Policy.Do, resilience.Do or
// resilience.Handler) the Fallback cannot answer: Do returns an error
// matching [ErrNoResult].
//
// NewHTTP panics with a "fallback: ..." message if respond is nil without
// Stale, or if c is invalid (see [HTTPConfig]).
func NewHTTP(respond func(req *http.Request, err error) (*http.Response, error), c HTTPConfig) *Fallback[*http.Response] {
	if respond == nil && c.Stale == 0 {
		panic("fallback: NewHTTP with a nil respond and no Stale: nothing to answer with")
	}
	checkStale(c.Stale, c.MaxKeys, c.Key != nil)
	switch {
	case c.MaxBody < 0:
		panic(fmt.Sprintf("fallback: negative MaxBody %d", c.MaxBody))
	case c.MaxBytes < 0:
		panic(fmt.Sprintf("fallback: negative MaxBytes %d", c.MaxBytes))
	case c.Stale == 0 && (c.MaxBody != 0 || c.MaxBytes != 0):
		panic("fallback: MaxBody or MaxBytes without Stale: nothing is remembered")
	}
	f := newFallback[*http.Response](c.Name, c.Match, c.OnFallback, c.Observer)
	f.needsRequest = true
	f.discard = func(resp *http.Response) {
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if respond != nil {
		f.sub = func(ctx context.Context, err error) (*http.Response, error) {
			req := resilience.RequestFrom(ctx)
			resp, rerr := respond(req, err)
			if rerr != nil {
				if resp != nil && resp.Body != nil {
					resp.Body.Close()
				}
				return nil, rerr
			}
			if resp == nil {
				return nil, errNoResponse
			}
			complete(resp, req)
			return resp, nil
		}
	}
	if c.Stale != 0 {
		if c.MaxBody == 0 {
			c.MaxBody = DefaultMaxBody
		}
		if c.MaxBytes == 0 {
			c.MaxBytes = DefaultMaxBytes
		}
		if c.MaxBody > c.MaxBytes {
			panic(fmt.Sprintf("fallback: MaxBody %d exceeds MaxBytes %d", c.MaxBody, c.MaxBytes))
		}
		if c.Key == nil {
			c.Key = DefaultKey
		}
		f.stale = &responseStore{
			lru:     newLRU[*storedResponse](c.MaxKeys, c.MaxBytes),
			ttl:     c.Stale,
			maxBody: c.MaxBody,
			key:     c.Key,
		}
	}
	return f
}

var errNoResponse = errors.New("fallback: respond returned neither a response nor an error")

// complete fills in what respond left out of resp.
func complete(resp *http.Response, req *http.Request) {
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	if resp.Status == "" {
		resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if resp.Proto == "" && resp.ProtoMajor == 0 {
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	} else if resp.ContentLength == 0 && resp.Body != http.NoBody {
		resp.ContentLength = -1
	}
	if resp.Request == nil {
		resp.Request = req
	}
}

// StaticResponse returns a respond for [NewHTTP] that answers every
// failure with a response of status code, a copy of header (nil: none)
// and body: a new response each time, whose body reads body from its
// start. It is the dummy response of a "fail silently" fallback. It panics
// if code is not a valid status (100 to 999).
func StaticResponse(code int, header http.Header, body string) func(req *http.Request, err error) (*http.Response, error) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("fallback: StaticResponse with status %d", code))
	}
	header = header.Clone()
	return func(req *http.Request, _ error) (*http.Response, error) {
		h := header.Clone()
		if h == nil {
			h = http.Header{}
		}
		var b io.ReadCloser = http.NoBody
		if body != "" {
			b = io.NopCloser(strings.NewReader(body))
		}
		return &http.Response{
			StatusCode:    code,
			Header:        h,
			Body:          b,
			ContentLength: int64(len(body)),
			Request:       req,
		}, nil
	}
}

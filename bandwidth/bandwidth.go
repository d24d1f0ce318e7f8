// Package bandwidth limits bytes per second: readers, writers, an HTTP
// handler and an HTTP transport that pass bytes no faster than a
// *ratelimit.Limiter allows, its tokens counting bytes.
//
// The Limiter of a bandwidth wrapper counts bytes: ratelimit.New(1<<20,
// 64<<10, ratelimit.Config{}) is a megabyte per second in chunks of up to
// 64 KiB. The burst is also the largest chunk a Read or Write passes at
// once, so it should be at least a few kilobytes. One Limiter may be
// shared by many wrappers to cap their sum. The wrappers wait as long as
// the bytes need, honouring their context; MaxWait, MaxQueue, Cost, DryRun
// and pauses of the Limiter do not apply. [Transport] forwards
// CloseIdleConnections to the RoundTripper it wraps.
package bandwidth

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/internal/bytelimit"
	"github.com/resiliencekit/resilience/ratelimit"
)

// Reader limits the bytes per second read from an underlying reader.
// A Reader is not safe for concurrent Reads (no reader is).
type Reader struct {
	ctx context.Context // bounds the waits; see NewReader
	r   io.Reader
	l   *ratelimit.Limiter
}

// NewReader returns a Reader that reads from r no faster than l allows.
// ctx bounds every wait: once it is done, Read returns its error. (An
// io.Reader has no context of its own, so the wrapper keeps the one of the
// operation it serves, as exec.CommandContext does.) NewReader panics if
// ctx, r or l is nil.
func NewReader(ctx context.Context, r io.Reader, l *ratelimit.Limiter) *Reader {
	checkWrapper(ctx, "NewReader", r == nil, l)
	return &Reader{ctx: ctx, r: r, l: l}
}

// Read reads at most the burst of the limiter, then waits until the bytes
// read fit in the rate. The bytes are returned even when the wait fails.
func (r *Reader) Read(p []byte) (int, error) {
	p = chunk(p, r.l)
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := waitBytes(r.ctx, r.l, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Writer limits the bytes per second written to an underlying writer. A
// Writer is not safe for concurrent Writes.
type Writer struct {
	ctx context.Context
	w   io.Writer
	l   *ratelimit.Limiter
}

// NewWriter returns a Writer that writes to w no faster than l allows; ctx
// bounds every wait, as for [NewReader]. It panics if ctx, w or l is nil.
func NewWriter(ctx context.Context, w io.Writer, l *ratelimit.Limiter) *Writer {
	checkWrapper(ctx, "NewWriter", w == nil, l)
	return &Writer{ctx: ctx, w: w, l: l}
}

// Write writes p in chunks of at most the burst of the limiter, waiting
// before each chunk until it fits in the rate.
func (w *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		c := chunk(p, w.l)
		if err := waitBytes(w.ctx, w.l, len(c)); err != nil {
			return written, err
		}
		n, err := w.w.Write(c)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(c):]
	}
	return written, nil
}

// NewReadCloser is [NewReader] for an io.ReadCloser, such as the body of
// an http.Request or http.Response; Close closes rc.
func NewReadCloser(ctx context.Context, rc io.ReadCloser, l *ratelimit.Limiter) io.ReadCloser {
	return readCloser{Reader: NewReader(ctx, rc, l), c: rc}
}

type readCloser struct {
	*Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// errDeadline is returned when the bytes cannot pass before the deadline
// of the context: it matches context.DeadlineExceeded.
var errDeadline = fmt.Errorf("bandwidth: %w before the bytes could pass", context.DeadlineExceeded)

// waitBytes waits until n bytes fit in l's rate. A wait that would end
// after the context's deadline fails at once with an error matching
// context.DeadlineExceeded.
func waitBytes(ctx context.Context, l *ratelimit.Limiter, n int) error {
	lim := bytelimit.Of(l)
	if lim.Limit() == rate.Inf {
		return nil
	}
	err := lim.WaitN(ctx, n)
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if _, ok := ctx.Deadline(); ok {
		return errDeadline
	}
	return err
}

func chunk(p []byte, l *ratelimit.Limiter) []byte {
	lim := bytelimit.Of(l)
	if lim.Limit() == rate.Inf {
		return p
	}
	if b := lim.Burst(); len(p) > b {
		return p[:b]
	}
	return p
}

func checkWrapper(ctx context.Context, fn string, nilIO bool, l *ratelimit.Limiter) {
	switch {
	case ctx == nil:
		panic("bandwidth: " + fn + " with a nil Context")
	case nilIO:
		panic("bandwidth: " + fn + " with a nil io.Reader or io.Writer")
	case l == nil:
		panic("bandwidth: " + fn + " with a nil Limiter")
	}
}

// Handler returns a handler that serves next with the request
// body read no faster than read allows and the response written no faster
// than write allows; a nil Limiter leaves that direction alone. The waits
// end when the request's context does. Limiters are shared by all
// requests, so they cap the sum: for a cap per request, wrap the body with
// [NewReadCloser] and a Limiter of its own inside your handler.
//
// The ResponseWriter passed to next supports http.Flusher and
// http.ResponseController through Unwrap.
//
// Handler panics if next is nil.
func Handler(next http.Handler, read, write *ratelimit.Limiter) http.Handler {
	if next == nil {
		panic("bandwidth: Handler with a nil http.Handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if read != nil && r.Body != nil && r.Body != http.NoBody {
			r2 := *r
			r2.Body = NewReadCloser(r.Context(), r.Body, read)
			r = &r2
		}
		if write != nil {
			w = &slowResponseWriter{ResponseWriter: w, w: Writer{ctx: r.Context(), w: w, l: write}}
		}
		next.ServeHTTP(w, r)
	})
}

type slowResponseWriter struct {
	http.ResponseWriter
	w Writer
}

func (s *slowResponseWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *slowResponseWriter) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *slowResponseWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Transport returns a RoundTripper that sends request bodies no
// faster than send allows and lets response bodies be read no faster than
// receive allows; a nil Limiter leaves that direction alone and a nil next
// means http.DefaultTransport. The waits end when the request's context
// does. The caller's request is not modified.
//
// The RoundTripper has a method CloseIdleConnections that calls next's,
// when next has one, so http.Client.CloseIdleConnections reaches the
// connections of next's pool. That is the one optional method http.Client
// looks for on a RoundTripper that is forwarded; the deprecated
// CancelRequest is not (the request's context cancels it), nor are the
// other methods of *http.Transport (Clone, RegisterProtocol): configure
// next itself.
func Transport(next http.RoundTripper, send, receive *ratelimit.Limiter) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return transport{next: next, send: send, receive: receive}
}

type transport struct {
	next          http.RoundTripper
	send, receive *ratelimit.Limiter
}

// CloseIdleConnections closes the idle connections of the wrapped
// RoundTripper, when it has such a method.
func (t transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.send != nil && req.Body != nil && req.Body != http.NoBody {
		r2 := *req
		r2.Body = NewReadCloser(ctx, req.Body, t.send)
		if gb := req.GetBody; gb != nil {
			r2.GetBody = func() (io.ReadCloser, error) {
				b, err := gb()
				if err != nil || b == nil || b == http.NoBody {
					return b, err
				}
				return NewReadCloser(ctx, b, t.send), nil
			}
		}
		req = &r2
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && t.receive != nil && resp.Body != nil && resp.Body != http.NoBody &&
		resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = NewReadCloser(ctx, resp.Body, t.receive)
	}
	return resp, err
}

package chaos

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/resiliencekit/resilience"
)

// Handler returns an http.Handler that injects the faults into the
// requests it serves with next: a server that misbehaves, for testing the
// clients that call it (run it under httptest.NewServer), or your own
// handler made to fail, for testing the middleware around it.
//
// For each request: the delays of the faults that apply are waited out;
// when the request's context is done first, it returns having written
// nothing. Then an action that ends the call answers instead of next:
//
//   - Status writes the status, its headers and a short text body;
//   - Error writes the status of the error's HTTPStatus() method, or 500,
//     with a Retry-After header when the error carries a wait;
//   - Hang waits until the request's context is done and writes nothing;
//   - Panic panics with its value;
//   - the network faults (ConnReset, ConnRefused, EOF, DialTimeout) abort
//     the response by panicking with http.ErrAbortHandler, which net/http's
//     server recovers by closing the connection without an answer: the
//     client sees a broken connection.
//
// Otherwise next serves the request, through a ResponseWriter spoiled by
// the body faults: SlowBody pauses and flushes between chunks;
// TruncateBody and BodyError let the first bytes through, fail the writes
// past them, and when next returns flush what was let through and abort
// the response with http.ErrAbortHandler. The writer passed to next
// supports http.ResponseController (it has Unwrap) and the optional
// interfaces handlers look for: http.Flusher, http.Pusher (Push returns
// http.ErrNotSupported where the server's writer cannot push),
// io.ReaderFrom and io.StringWriter; with a Recorder and no body fault,
// http.Hijacker too (Hijack returns the server's answer, an error where
// the connection cannot be hijacked). The deprecated http.CloseNotifier is
// not offered: use the request's context.
//
// Aborting panics reach the caller of ServeHTTP; a test that calls it
// directly, with an httptest.ResponseRecorder, must recover them. The
// call's key is the context's (resilience.KeyFrom).
func (i *Injector) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("chaos: Handler with a nil handler")
	}
	return &handler{i: i, next: next}
}

type handler struct {
	i    *Injector
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.i.passThrough() {
		h.next.ServeHTTP(w, r)
		return
	}
	c := Call{Time: time.Now(), Key: resilience.KeyFrom(r.Context()), Request: r}
	p := h.i.plan(r.Context(), c, true)
	if h.i.rec == nil {
		_ = h.serve(w, r, c, &p)
		return
	}
	a := Attempt{Start: c.Time, Key: c.Key, Method: method(r), URL: r.URL.String(), Faults: p.kinds, Delay: p.delay}
	sw := &statusWriter{ResponseWriter: w}
	returned := false
	defer func() {
		a.End, a.Status, a.Panicked = time.Now(), sw.code, !returned
		if a.Status == 0 && returned && a.Err == nil {
			a.Status = http.StatusOK // what net/http sends for a handler that wrote nothing
		}
		h.i.rec.add(a)
	}()
	a.Err = h.serve(sw, r, c, &p)
	returned = true
}

// serve runs the planned faults and next. It returns the error that ended
// the request early: the context's, or an injected Error.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, c Call, p *plan) error {
	ctx := r.Context()
	if p.delay > 0 {
		if err := sleep(ctx, p.delay); err != nil {
			return err
		}
	}
	if a := p.end; a != nil {
		switch a.kind {
		case KindError:
			writeError(w, r, a.err)
			return a.err
		case KindStatus:
			writeStatus(w, r, a.code, a.header)
			return nil
		case KindHang:
			<-ctx.Done()
			return ctx.Err()
		case KindPanic:
			panic(a.panicV)
		default:
			panic(http.ErrAbortHandler)
		}
	}
	if len(p.body) == 0 {
		h.next.ServeHTTP(w, r)
		return nil
	}
	st := &abortState{}
	fw := w
	for _, a := range p.body {
		fw = wrapWriter(ctx, fw, a, st)
	}
	h.next.ServeHTTP(fw, r)
	if st.aborted {
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	return nil
}

// writeStatus answers with code, the headers h and a short text body.
func writeStatus(w http.ResponseWriter, r *http.Request, code int, h http.Header) {
	dst := w.Header()
	for k, vs := range h {
		dst[k] = append([]string(nil), vs...)
	}
	if dst.Get("Content-Type") == "" {
		dst.Set("Content-Type", "text/plain; charset=utf-8")
	}
	dst.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, strconv.Itoa(code)+" "+http.StatusText(code)+"\n")
	}
}

// writeError answers for an injected error, as resilience.Handler answers
// for a rejection.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) && hs.HTTPStatus() >= 400 && hs.HTTPStatus() <= 599 {
		code = hs.HTTPStatus()
	}
	h := http.Header{}
	if d, ok := resilience.RetryAfter(err); ok {
		h.Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	writeStatus(w, r, code, h)
}

// abortState is shared by the writers of one response: set when a body
// fault cut the response, which is then aborted.
type abortState struct{ aborted bool }

// wrapWriter applies the body fault a to a response writer.
func wrapWriter(ctx context.Context, w http.ResponseWriter, a Action, st *abortState) http.ResponseWriter {
	if a.kind == KindSlowBody {
		return &slowWriter{ResponseWriter: w, ctx: ctx, chunk: int(a.n), every: a.every}
	}
	err := a.err
	if err == nil {
		err = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
	}
	return &cutWriter{ResponseWriter: w, left: a.n, err: err, st: st}
}

// slowWriter writes chunk bytes at a time, pausing before each and flushing
// after each.
type slowWriter struct {
	http.ResponseWriter
	ctx   context.Context
	chunk int
	every time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := sleep(w.ctx, w.every); err != nil {
			return written, err
		}
		n := min(len(p), w.chunk)
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		p = p[n:]
	}
	return written, nil
}

func (w *slowWriter) Flush()                              { _ = http.NewResponseController(w.ResponseWriter).Flush() }
func (w *slowWriter) Unwrap() http.ResponseWriter         { return w.ResponseWriter }
func (w *slowWriter) WriteString(s string) (int, error)   { return w.Write([]byte(s)) }
func (w *slowWriter) ReadFrom(r io.Reader) (int64, error) { return io.Copy(writerOnly{w}, r) }
func (w *slowWriter) Push(target string, opts *http.PushOptions) error {
	return push(w.ResponseWriter, target, opts)
}

// cutWriter lets left bytes through, then fails every write with err and
// marks the response for abort.
type cutWriter struct {
	http.ResponseWriter
	left int64
	err  error
	st   *abortState
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= w.left {
		n, err := w.ResponseWriter.Write(p)
		w.left -= int64(n)
		return n, err
	}
	n, err := w.ResponseWriter.Write(p[:w.left])
	w.left -= int64(n)
	if err != nil {
		return n, err
	}
	w.st.aborted = true
	return n, w.err
}

func (w *cutWriter) Flush()                              { _ = http.NewResponseController(w.ResponseWriter).Flush() }
func (w *cutWriter) Unwrap() http.ResponseWriter         { return w.ResponseWriter }
func (w *cutWriter) WriteString(s string) (int, error)   { return w.Write([]byte(s)) }
func (w *cutWriter) ReadFrom(r io.Reader) (int64, error) { return io.Copy(writerOnly{w}, r) }
func (w *cutWriter) Push(target string, opts *http.PushOptions) error {
	return push(w.ResponseWriter, target, opts)
}

// push is the Push of the writers that wrap w: w's, or http.ErrNotSupported
// when w cannot push (what an HTTP/1 server's writer would say).
func push(w http.ResponseWriter, target string, opts *http.PushOptions) error {
	if p, ok := w.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

// writerOnly hides every method but Write, so io.Copy does not call
// ReadFrom again.
type writerOnly struct{ io.Writer }

// statusWriter records the status sent to the client (200 once the body
// is written without a status).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) WriteString(s string) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.WriteString(w.ResponseWriter, s)
}

// ReadFrom keeps the server's own ReadFrom (sendfile) in use under the
// recorder.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

func (w *statusWriter) Push(target string, opts *http.PushOptions) error {
	return push(w.ResponseWriter, target, opts)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package resilience

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/resiliencekit/resilience/internal/errs"
)

// Handler returns an http.Handler that serves each request with next under
// the policies ps (composed as by [Chain]): a server-side rate limiter,
// bulkhead, breaker or time limit around your own handler.
//
// The policies see the handler's outcome: a handler that writes a 5xx
// status has failed, and the attempt returns a [*StatusError] (marked
// permanent, since a response already sent cannot be retried), so a breaker
// counts it. The request passed to next carries the context the policies
// give the attempt, so a time limit reaches the handler through
// r.Context().
//
// When the policies reject a request before next wrote anything, Handler
// answers for it, with a short plain-text body that names only the status:
//
//   - an error with a method HTTPStatus() int answers with that status
//     (ratelimit rejections say 429 Too Many Requests; a full bulkhead and an
//     open breaker say 503 Service Unavailable);
//   - a time limit or any error matching context.DeadlineExceeded answers
//     503 Service Unavailable;
//   - any other error answers 500 Internal Server Error.
//
// When the error carries a wait (see [RetryAfter]) the answer has a
// Retry-After header in whole seconds, rounded up.
//
// The ResponseWriter passed to next supports http.Flusher, http.Hijacker and
// http.ResponseController through Unwrap.
func Handler(next http.Handler, ps ...Policy) http.Handler {
	return &handler{next: next, p: Chain(ps...)}
}

type handler struct {
	next http.Handler
	p    Policy
}

// errResponded is returned when a policy runs the handler again after it
// already responded to the request.
var errResponded = errors.New("resilience: handler already responded")

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	err := h.p.Do(r.Context(), func(ctx context.Context) error {
		if sw.code != 0 {
			return Permanent(errResponded)
		}
		req := r
		if ctx != r.Context() {
			req = r.WithContext(ctx)
		}
		h.next.ServeHTTP(sw, req)
		if sw.code >= 500 {
			wait, _ := ParseRetryAfter(w.Header().Get("Retry-After"), time.Now())
			return Permanent(&StatusError{Code: sw.code, Wait: wait})
		}
		return nil
	})
	if err == nil || sw.code != 0 {
		return
	}
	writeRejection(w, err)
}

// writeRejection answers a request that the policies refused.
func writeRejection(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	hs, ok := errs.As[interface{ HTTPStatus() int }](err)
	switch {
	case ok && hs.HTTPStatus() >= 400 && hs.HTTPStatus() <= 599:
		code = hs.HTTPStatus()
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	h := w.Header()
	if d, ok := RetryAfter(err); ok {
		secs := int64((d + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, http.StatusText(code)+"\n")
}

// statusWriter records the status a handler sent. code is 0 until the
// response is committed (informational 1xx statuses do not commit it).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
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

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

// Flush commits the response (200 unless a status was written) and flushes.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection; the response counts as sent.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

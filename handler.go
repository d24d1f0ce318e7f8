package resilience

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/resiliencekit/resilience/httpkey"
	"github.com/resiliencekit/resilience/internal/errs"
)

// Handler returns an http.Handler that serves each request with next under
// the policies ps (composed as by [Chain]): a server-side rate limiter,
// bulkhead, breaker or time limit around your own handler. It is
// NewHandler(next, HandlerConfig{}, ps...): requests are keyed by the
// address of the TCP peer (see [HandlerConfig]).
func Handler(next http.Handler, ps ...Policy) http.Handler {
	return NewHandler(next, HandlerConfig{}, ps...)
}

// HandlerConfig holds the optional settings of [NewHandler]. The zero value
// keys requests by the client's address as the TCP connection shows it and
// answers rejections with a plain-text body.
type HandlerConfig struct {
	// Key returns the key of a request, which the keyed policies under the
	// handler (a Group of rate limiters, bulkheads or breakers) read with
	// [KeyFrom] to keep one instance per client. Nil means: the key the
	// request's context already carries (set with [WithKey] by a
	// middleware in front), or else httpkey.ClientIP(httpkey.IPConfig{}),
	// the address of the TCP peer with IPv6 clients grouped by /64. Behind
	// a proxy or load balancer use httpkey.ClientIP with TrustedProxies;
	// for API keys, httpkey.Header. A Key that returns "" leaves the
	// request with the key "" (the one instance that calls without a key
	// share).
	Key httpkey.Func

	// Reject, when not nil, writes the answer to a request that the
	// policies refused, in place of the plain-text answer: a problem+json
	// body, say. When it runs, the status it should send is
	// [RejectionStatus] of err, and the Retry-After header and any headers
	// the policies set (see [ResponseHeader]) are already in w.Header().
	Reject func(w http.ResponseWriter, r *http.Request, err error)

	// Deadline, when not nil, applies the deadline that callers send in
	// [DeadlineHeader] (as [Transport] does with
	// TransportConfig.SendDeadline): the request's context, which the
	// policies and next get, ends by then, less DeadlineConfig.Margin, or
	// at its own deadline if that is earlier. A request with too little
	// time left is answered 503 at once ([ErrDeadlineTooShort]), one with
	// a malformed header 400 ([ErrInvalidDeadline]), through Reject when
	// it is set; neither runs the policies or next. Nil, the default,
	// ignores the header.
	Deadline *DeadlineConfig

	// Criticality, when not nil, reads the criticality that callers send
	// in [CriticalityHeader] (as [Transport] does with
	// TransportConfig.SendCriticality) into the request's context, where
	// the policies and next find it with [CriticalityFrom]. A malformed
	// value is answered 400 ([ErrInvalidCriticality]), through Reject when
	// it is set. Nil, the default, ignores the header.
	Criticality *CriticalityConfig
}

// NewHandler returns an http.Handler that serves each request with next
// under the policies ps (composed as by [Chain]), configured by c.
//
// Each request is keyed as HandlerConfig.Key says. The policies' context
// also carries the request ([RequestFrom]) and the header of the response
// ([ResponseHeader]), so that a policy can charge a cost by request or set
// response headers such as RateLimit.
//
// The policies see the handler's outcome: a handler that writes a 5xx
// status has failed, and the attempt returns a [*StatusError] (marked
// permanent, since a response already sent cannot be retried), so a breaker
// counts it. The request passed to next carries the context the policies
// give the attempt, so a time limit reaches the handler through
// r.Context(). A handler that aborts with panic(http.ErrAbortHandler) —
// the client went away, or a proxied response broke off — is not a failure
// of the service: the policies see an error matching context.Canceled, and
// the panic goes on to net/http after them. Any other panic reaches the
// policies as a panic (see [Policy]).
//
// When the policies reject a request before next wrote anything, the
// handler answers for it, with a short plain-text body that names only the
// status (see [RejectionStatus]), or with HandlerConfig.Reject. When the
// error carries a wait (see [RetryAfter]) the answer has a Retry-After
// header in whole seconds, rounded up.
//
// The ResponseWriter passed to next supports http.Flusher, http.Hijacker and
// http.ResponseController through Unwrap.
//
// NewHandler panics if next is nil, a policy is a typed nil (see [Chain]),
// or a policy is a [ConcurrentPolicy]: a hedge would run the handler twice
// at once on one ResponseWriter.
func NewHandler(next http.Handler, c HandlerConfig, ps ...Policy) http.Handler {
	if isNil(next) {
		panic("resilience: Handler with a nil http.Handler")
	}
	if c.Key == nil {
		c.Key = defaultKey
	}
	if c.Deadline != nil {
		d := *c.Deadline // the caller's value stays as it was
		d.check()
		c.Deadline = &d
	}
	if c.Criticality != nil {
		if m := c.Criticality.Max; m < Sheddable || m > Critical {
			panic(fmt.Sprintf("resilience: CriticalityConfig.Max %v", m))
		}
		cc := *c.Criticality
		c.Criticality = &cc
	}
	p := Chain(ps...)
	if concurrent(p) {
		panic("resilience: Handler with a concurrent policy (a hedge): a handler's response can be written once")
	}
	return &handler{next: next, p: p, c: c}
}

// defaultKey keys by TCP peer, unless a middleware in front set a key.
var defaultKey = func() httpkey.Func {
	peer := httpkey.ClientIP(httpkey.IPConfig{})
	return func(r *http.Request) string {
		if k := KeyFrom(r.Context()); k != "" {
			return k
		}
		return peer(r)
	}
}()

type handler struct {
	next http.Handler
	p    Policy
	c    HandlerConfig
}

// errResponded is returned when a policy runs the handler again after it
// already responded to the request.
var errResponded = errors.New("resilience: handler already responded")

// errAborted is what the policies see when the handler aborted with
// http.ErrAbortHandler: the request was given up, not failed.
var errAborted error = abortError{}

type abortError struct{}

func (abortError) Error() string        { return "resilience: handler aborted (http.ErrAbortHandler)" }
func (abortError) Is(target error) bool { return target == context.Canceled }

// serving is the state of one request: one allocation for what the
// policies and the handler share.
type serving struct {
	h       *handler
	sw      statusWriter
	r       *http.Request
	k       keyed
	aborted bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := &serving{h: h, sw: statusWriter{ResponseWriter: w}, r: r}
	ctx := r.Context()
	if h.c.Deadline != nil {
		dctx, cancel, err := h.c.Deadline.apply(ctx, r)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		if cancel != nil {
			defer cancel()
		}
		ctx = dctx
	}
	if h.c.Criticality != nil {
		cctx, err := h.c.Criticality.apply(ctx, r)
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		ctx = cctx
	}
	s.k = keyed{key: h.c.Key(r), req: r, header: w.Header()}
	ctx = context.WithValue(ctx, keyCtx{}, &s.k)
	err := h.p.Do(ctx, s.attempt)
	if s.aborted {
		panic(http.ErrAbortHandler)
	}
	if err == nil || s.sw.code != 0 {
		return
	}
	h.refuse(w, r, err)
}

// refuse answers a request that was refused with err before the handler
// responded.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	setRetryAfter(w.Header(), err)
	if h.c.Reject != nil {
		h.c.Reject(w, r, err)
		return
	}
	writeRejection(w, err)
}

// attempt is the op the policies run: the handler, once.
func (s *serving) attempt(ctx context.Context) error {
	if s.sw.code != 0 {
		return Permanent(errResponded)
	}
	if !s.serve(s.r.WithContext(ctx)) {
		s.aborted = true
		return errAborted
	}
	if s.sw.code >= 500 {
		wait, _ := ParseRetryAfter(s.sw.Header().Get("Retry-After"), time.Now())
		return Permanent(&StatusError{Code: s.sw.code, Wait: wait})
	}
	return nil
}

// serve runs the handler, and reports false when it aborted with
// http.ErrAbortHandler. Any other panic goes on.
func (s *serving) serve(r *http.Request) (ok bool) {
	defer func() {
		if !ok {
			if v := recover(); v != http.ErrAbortHandler {
				panic(v)
			}
		}
	}()
	s.h.next.ServeHTTP(&s.sw, r)
	return true
}

// RejectionStatus returns the HTTP status that [Handler] answers with when
// the policies reject a request with err:
//
//   - an error with a method HTTPStatus() int in the range 400 to 599
//     answers with that status (ratelimit rejections say 429 Too Many
//     Requests; a full bulkhead and an open breaker say 503 Service
//     Unavailable);
//   - a time limit or any error matching context.DeadlineExceeded answers
//     503 Service Unavailable;
//   - any other error answers 500 Internal Server Error.
func RejectionStatus(err error) int {
	hs, ok := errs.As[interface{ HTTPStatus() int }](err)
	switch {
	case ok && hs.HTTPStatus() >= 400 && hs.HTTPStatus() <= 599:
		return hs.HTTPStatus()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// setRetryAfter sets the Retry-After header of a rejection that carries a
// wait, in whole seconds rounded up.
func setRetryAfter(h http.Header, err error) {
	if d, ok := RetryAfter(err); ok {
		secs := int64((d + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}

// writeRejection answers a request that the policies refused.
func writeRejection(w http.ResponseWriter, err error) {
	code := RejectionStatus(err)
	h := w.Header()
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

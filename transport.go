package resilience

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// MaxReplayBody is how many bytes of a request body [Transport] buffers so
// that it can send the body again on a later attempt, when the request has
// no GetBody. Requests made with http.NewRequest from a *bytes.Buffer,
// *bytes.Reader or *strings.Reader have GetBody and are never buffered. A
// larger body without GetBody is streamed once: the request gets a single
// attempt, and its failure is marked permanent so retry policies stop.
const MaxReplayBody = 1 << 20

// Bounds of the drain of a discarded response body, which lets the
// connection be reused: at most maxDrain bytes within drainTimeout. A body
// that is longer, or slower, is closed instead (and its connection with
// it): reading on would cost more than a new connection.
const (
	maxDrain     = 64 << 10
	drainTimeout = 100 * time.Millisecond
)

// ErrBodyNotReplayable is returned, marked permanent, when a policy asks for
// another attempt of a request whose body could be sent only once (no
// GetBody and larger than MaxReplayBody).
var ErrBodyNotReplayable = errors.New("resilience: request body cannot be sent again")

// ErrInvalidIdempotencyKey is returned, marked permanent and wrapped with
// the position of the first offending byte, when
// TransportConfig.IdempotencyKey returns a value that cannot be sent as it
// is in a header: one with a byte outside printable ASCII other than an
// inner space or tab (a control byte, a line break, non-ASCII), or with
// leading or trailing white space, which a server would strip.
var ErrInvalidIdempotencyKey = errors.New("resilience: invalid Idempotency-Key")

// Transport returns an http.RoundTripper that sends each request through
// next under the policies ps (composed as by [Chain]). It is
// NewTransport(next, TransportConfig{}, ps...): the responses that fail are
// those of [DefaultFailure], and Retry-After counts on those of
// [DefaultHonorRetryAfter].
func Transport(next http.RoundTripper, ps ...Policy) http.RoundTripper {
	return NewTransport(next, TransportConfig{}, ps...)
}

// TransportConfig holds the optional settings of [NewTransport]. The zero
// value classifies responses as [DefaultFailure] and [DefaultHonorRetryAfter]
// do, and adds no idempotency key.
type TransportConfig struct {
	// Failure reports whether a response is a failed attempt for the
	// policies: a breaker counts it, a retry sends the request again. It is
	// called with the response's header read and its body unread; it must
	// not read or close the body. Nil means DefaultFailure (408, 429, 500,
	// 502, 503 and 504). To add a status or exempt one, call
	// DefaultFailure from your own function.
	Failure func(resp *http.Response) bool

	// HonorRetryAfter reports whether the Retry-After header of a failed
	// response is a wait the policies should honour (see [RetryAfter]).
	// RFC 9110 allows the header on any response; nil means
	// DefaultHonorRetryAfter: on 429 Too Many Requests and 503 Service
	// Unavailable, the statuses whose definitions give it a meaning.
	HonorRetryAfter func(resp *http.Response) bool

	// IdempotencyKey, when not nil, makes the keys that let requests which
	// are not idempotent by their method (POST, PATCH, ...) be sent more
	// than once. For such a request that has neither an Idempotency-Key
	// nor an X-Idempotency-Key header, RoundTrip calls it once, before the
	// first attempt, on the caller's goroutine; a non-empty result is sent
	// as the Idempotency-Key header of every attempt of that RoundTrip,
	// retries and hedges alike, and the request then counts as idempotent:
	// its failures are not marked permanent and [Repeatable] says true
	// (unless its body can be sent only once, see [MaxReplayBody]). An
	// empty result sends the request without a key, its failures permanent
	// as before. A result that is not a valid header value makes RoundTrip
	// return [ErrInvalidIdempotencyKey] (marked permanent) without sending
	// anything. It must not modify req; the key goes on the copies each
	// attempt sends, never on the caller's request (nor on the request
	// [RequestFrom] returns). It is not called for GET, HEAD, OPTIONS,
	// TRACE, PUT and DELETE, nor for requests that carry a key of their
	// own. It may be called from several goroutines at once.
	//
	// [NewIdempotencyKey] makes random keys as the IETF draft
	// draft-ietf-httpapi-idempotency-key-header describes. A key makes a
	// second attempt safe only when the server honours it: a server that
	// honours the key, such as the idempotency package's Handler, answers
	// a repeated request with the outcome of the first instead of doing
	// the work again. A server that ignores the header may do it twice.
	// Servers bound the length of a key; keep keys short.
	//
	// Nil, the default, adds no key.
	IdempotencyKey func(req *http.Request) string

	// SendDeadline, when true, sends with every attempt the time left
	// until the deadline of its context — the caller's, or a time limit's
	// among the policies, whichever comes first — in [DeadlineHeader], in
	// whole milliseconds rounded down, so that a server behind
	// [Handler] with HandlerConfig.Deadline stops working when the caller
	// stops waiting. An attempt without a deadline sends no header, and a
	// smaller value the request already carries (a proxy forwarding its
	// own caller's) is kept. Send it to your own services: it tells a
	// third party how long you wait. False, the default, sends nothing.
	SendDeadline bool

	// SendCriticality, when true, sends with every attempt the
	// criticality its context carries ([WithCriticality], or the one a
	// [Handler] read from its own caller) in [CriticalityHeader]. A context
	// without one sends nothing. False, the default, sends nothing.
	SendCriticality bool
}

// NewIdempotencyKey returns a new random idempotency key, ready to be sent
// as the value of an Idempotency-Key header: 128 bits from crypto/rand as
// 32 lowercase hex digits, in double quotes, as the Structured Field string
// that the IETF draft draft-ietf-httpapi-idempotency-key-header shows (for
// example "8e03978e40d543e8bc936894a57f9324", quotes included). It ignores
// req; its signature is that of TransportConfig.IdempotencyKey, which it
// is meant for. Since Go 1.24 crypto/rand.Read never returns an error: if
// the system cannot supply randomness the program crashes, so a guessable
// key is never made. It is safe for concurrent use.
func NewIdempotencyKey(*http.Request) string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails (see above)
	var b [2 + 2*len(raw)]byte
	b[0], b[len(b)-1] = '"', '"'
	hex.Encode(b[1:len(b)-1], raw[:])
	return string(b[:])
}

// DefaultFailure reports whether resp has one of the statuses that mean
// "this attempt failed, another may succeed": 408 Request Timeout, 429 Too
// Many Requests, 500 Internal Server Error, 502 Bad Gateway, 503 Service
// Unavailable and 504 Gateway Timeout. It is the default of
// TransportConfig.Failure.
func DefaultFailure(resp *http.Response) bool { return retryableStatus(resp.StatusCode) }

// DefaultHonorRetryAfter reports whether resp is a 429 Too Many Requests or
// a 503 Service Unavailable: the default of TransportConfig.HonorRetryAfter.
func DefaultHonorRetryAfter(resp *http.Response) bool {
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
}

// NewTransport returns an http.RoundTripper that sends each request through
// next under the policies ps (composed as by [Chain]), configured by c. A
// nil next means http.DefaultTransport. It keeps the RoundTripper contract:
// the caller's request is never modified, and its body is always closed.
//
// Each attempt sends req.Clone(ctx) with the context the policies pass in,
// and a fresh body from req.GetBody (see [MaxReplayBody] for bodies without
// one). Unless the caller set a key with [WithKey], the context carries the
// request's host (req.URL.Host) as key, so keyed policies keep one instance
// per downstream.
//
// Responses that TransportConfig.Failure calls failed are failures for the
// policies: the attempt returns a [*StatusError] carrying the response and,
// where TransportConfig.HonorRetryAfter says so, its Retry-After. The
// response of an attempt that is superseded by another attempt is drained,
// up to 64 KiB and for at most 100 ms, and closed; a longer or slower body
// is closed without more reading (its connection is not reused), so a body
// that never ends cannot hold up the next attempt. When a StatusError is
// the final outcome, RoundTrip returns its response with a nil error, as a
// plain transport would; the caller reads and closes it as usual.
// Rejections by a policy (an open breaker, a full bulkhead) are returned as
// errors.
//
// Requests that are not idempotent — any method but GET, HEAD, OPTIONS,
// TRACE, PUT and DELETE — have their failures marked permanent (see
// [Permanent]), so retry policies do not send them twice, unless they carry
// an Idempotency-Key (or X-Idempotency-Key) header. Opt in to
// TransportConfig.IdempotencyKey (with [NewIdempotencyKey], say) and
// Transport gives each such request a key of its own, the same on all its
// attempts, and lets the policies send it again; that is safe with a
// server that honours the key, such as the idempotency package's Handler.
//
// Policies that give each attempt a context of their own hand its
// cancellation to Transport with [DeferRelease], so that the body of the
// response returned stays readable until it is closed.
//
// The RoundTripper has a method CloseIdleConnections that calls next's,
// when next has one, so http.Client.CloseIdleConnections reaches the
// connections. Other methods of next (those of *http.Transport, such as
// RegisterProtocol) are not forwarded: configure next itself.
//
// NewTransport panics if next or a policy is a typed nil.
func NewTransport(next http.RoundTripper, c TransportConfig, ps ...Policy) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	} else if isNil(next) {
		panic(fmt.Sprintf("resilience: Transport with a nil %T", next))
	}
	if c.Failure == nil {
		c.Failure = DefaultFailure
	}
	if c.HonorRetryAfter == nil {
		c.HonorRetryAfter = DefaultHonorRetryAfter
	}
	return &transport{next: next, p: Chain(ps...), c: c}
}

type transport struct {
	next http.RoundTripper
	p    Policy
	c    TransportConfig
}

// CloseIdleConnections closes the idle connections of the wrapped
// RoundTripper, when it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// roundTrip is the state of one RoundTrip call across its attempts. It is
// also the caller the policies find in their context (see [Do]): the slot
// of the response, the releases deferred to it, and whether the request may
// be sent twice. Under a concurrent policy (a hedge) attempts run at once:
// mu guards what they share, and their responses reach last through Keep.
type roundTrip struct {
	t         *transport
	req       *http.Request
	permanent bool   // failures are permanent: not idempotent, or body not replayable
	key       string // the Idempotency-Key Transport adds to every attempt, if any
	buffered  []byte // the body, when Transport buffered it
	streamed  io.ReadCloser
	race      atomic.Bool // a race runs under this round trip

	mu       sync.Mutex
	origUsed bool           // req.Body was given to an attempt (which closes it)
	last     *http.Response // the latest attempt's response, not yet discarded
	rel      releaser
}

func (rt *roundTrip) raced()           { rt.race.Store(true) }
func (rt *roundTrip) repeatable() bool { return !rt.permanent }

func (rt *roundTrip) result() (*http.Response, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.last, rt.last != nil
}

// substitute makes resp, a policy's own (a fallback's), the response.
func (rt *roundTrip) substitute(resp *http.Response) { rt.setLast(resp) }

// setLast makes resp the pending response, draining the one it replaces.
func (rt *roundTrip) setLast(resp *http.Response) {
	rt.mu.Lock()
	old := rt.last
	rt.last = resp
	rt.mu.Unlock()
	if old != resp {
		drainResponse(old)
	}
}

// drainResponse drains and closes the body of a discarded response, if any.
func drainResponse(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		drain(resp.Body)
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req.Body)
		return nil, errors.New("resilience: request has no URL")
	}
	rt := &roundTrip{t: t, req: req, permanent: !idempotent(req)}
	if rt.permanent && t.c.IdempotencyKey != nil {
		key := t.newKey(req)
		if i := invalidHeaderValue(key); i >= 0 {
			closeBody(req.Body)
			return nil, Permanent(fmt.Errorf("%w: byte %#02x at offset %d of %d",
				ErrInvalidIdempotencyKey, key[i], i, len(key)))
		}
		if key != "" {
			rt.key, rt.permanent = key, false
		}
	}
	if err := rt.prepareBody(); err != nil {
		return nil, err
	}
	ctx := req.Context()
	if KeyFrom(ctx) == "" {
		ctx = WithKey(ctx, req.URL.Host)
	}
	ctx = context.WithValue(ctx, callKey{}, rt)

	err := t.p.Do(ctx, rt.attempt)

	if !rt.origUsed {
		closeBody(req.Body) // no attempt took it (a rejection); the contract says close it
	}
	var se *StatusError
	if rt.last != nil && (err == nil || errors.As(err, &se) && se.Response == rt.last) {
		return rt.respond(), nil
	}
	rt.discard()
	if err == nil {
		// A policy returned success without a response of an attempt: a
		// fallback that did not call op, say. There is nothing to return.
		err = errors.New("resilience: policy succeeded without sending the request")
	}
	return nil, err
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// newKey asks TransportConfig.IdempotencyKey for the key of req. Should it
// panic, req's body is closed on the way out, as RoundTrip promises.
func (t *transport) newKey(req *http.Request) string {
	done := false
	defer func() {
		if !done {
			closeBody(req.Body)
		}
	}()
	key := t.c.IdempotencyKey(req)
	done = true
	return key
}

// invalidHeaderValue returns the offset of the first byte that keeps v from
// being sent, unchanged, as a header value, or -1 if there is none: v may
// hold printable ASCII, and spaces and tabs between other bytes. Bytes
// above 0x7e are refused, though HTTP tolerates them as obs-text: their
// meaning is not defined and a key is ASCII.
func invalidHeaderValue(v string) int {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ' || c == '\t':
			if i == 0 || i == len(v)-1 {
				return i
			}
		case c < 0x21 || c > 0x7e:
			return i
		}
	}
	return -1
}

// prepareBody makes the body replayable when it has to be buffered.
func (rt *roundTrip) prepareBody() error {
	req := rt.req
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxReplayBody+1))
	if err != nil {
		closeBody(req.Body)
		return err
	}
	if len(buf) <= MaxReplayBody {
		closeBody(req.Body)
		rt.buffered = buf
		rt.origUsed = true // closed here; nothing more to close
		return nil
	}
	// Too large to keep: send what was read followed by the rest, once.
	rt.streamed = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
	rt.permanent = true
	return nil
}

// body returns the body for the next attempt and its GetBody.
func (rt *roundTrip) body() (io.ReadCloser, func() (io.ReadCloser, error), error) {
	req := rt.req
	switch {
	case rt.buffered != nil:
		getBody := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rt.buffered)), nil }
		b, _ := getBody()
		return b, getBody, nil
	case rt.streamed != nil:
		if rt.origUsed {
			return nil, nil, Permanent(ErrBodyNotReplayable)
		}
		rt.origUsed = true
		return rt.streamed, nil, nil
	case req.Body == nil || req.Body == http.NoBody:
		return req.Body, req.GetBody, nil
	case !rt.origUsed:
		rt.origUsed = true
		return req.Body, req.GetBody, nil
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, nil, err
	}
	return b, req.GetBody, nil
}

// attempt is the op the policies run: one exchange with next. Attempts in a
// race run at once; each hands its response to Keep, so that the winner's
// becomes last and the losers' are drained.
func (rt *roundTrip) attempt(ctx context.Context) error {
	raced := rt.race.Load()
	if !raced {
		rt.discard()
	}
	rt.mu.Lock()
	body, getBody, err := rt.body()
	rt.mu.Unlock()
	if err != nil {
		return rt.mark(err)
	}
	r := rt.req.Clone(ctx) // its Header is a deep copy, nil for a nil one
	r.Body, r.GetBody = body, getBody
	if rt.key != "" {
		if r.Header == nil {
			r.Header = make(http.Header, 1)
		}
		r.Header["Idempotency-Key"] = []string{rt.key}
	}
	if rt.t.c.SendDeadline {
		sendDeadline(ctx, r)
	}
	if rt.t.c.SendCriticality {
		sendCriticality(ctx, r)
	}
	resp, err := rt.t.next.RoundTrip(r)
	if err != nil {
		if resp != nil && resp.Body != nil { // not allowed by the contract; be safe
			resp.Body.Close()
		}
		return rt.mark(err)
	}
	if raced {
		Keep(ctx, func() { rt.setLast(resp) }, func() { drainResponse(resp) })
	} else {
		rt.mu.Lock()
		rt.last = resp
		rt.mu.Unlock()
	}
	if !rt.t.c.Failure(resp) {
		return nil
	}
	var wait time.Duration
	if rt.t.c.HonorRetryAfter(resp) {
		wait, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return rt.mark(&StatusError{Code: resp.StatusCode, Wait: wait, Response: resp})
}

func (rt *roundTrip) mark(err error) error {
	if rt.permanent {
		return Permanent(err)
	}
	return err
}

// discard drains and closes the pending response, if any, and releases what
// the policies deferred for the attempt that produced it.
func (rt *roundTrip) discard() {
	if resp := rt.last; resp != nil {
		rt.last = nil
		drainResponse(resp)
	}
	rt.rel.run()
}

// respond hands the pending response to the caller. If policies deferred
// releases, they run when the caller closes the body.
func (rt *roundTrip) respond() *http.Response {
	resp := rt.last
	rt.last = nil
	if !rt.rel.pending() {
		return resp
	}
	if resp.Body == nil {
		rt.rel.run()
		return resp
	}
	rb := releaseBody{ReadCloser: resp.Body, rel: &rt.rel}
	if rw, ok := resp.Body.(io.ReadWriteCloser); ok { // 101 Switching Protocols
		resp.Body = &releaseRWBody{releaseBody: rb, w: rw}
	} else {
		resp.Body = &rb
	}
	return resp
}

// releaseBody runs the deferred releases once the caller closes the body.
type releaseBody struct {
	io.ReadCloser
	rel *releaser
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.rel.run()
	return err
}

type releaseRWBody struct {
	releaseBody
	w io.Writer
}

func (b *releaseRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// drain reads what is left of a discarded body, up to maxDrain bytes and
// for at most drainTimeout, and closes it. A timer closes a body that is
// too slow, which ends the read in progress (as net/http's bodies do); the
// timer's function has returned by the time drain does, so nothing outlives
// the call.
func drain(body io.ReadCloser) {
	var once sync.Once
	closeIt := func() { once.Do(func() { body.Close() }) }
	t := time.AfterFunc(drainTimeout, closeIt)
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	t.Stop()
	closeIt() // waits for the timer's close, if it started one
}

func closeBody(b io.ReadCloser) {
	if b != nil && b != http.NoBody {
		b.Close()
	}
}

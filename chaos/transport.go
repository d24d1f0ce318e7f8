package chaos

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
)

// Transport returns an http.RoundTripper that injects the faults into the
// requests it sends through next (http.DefaultTransport when nil). Put it
// under the policies whose behaviour you test, where the real network
// would be:
//
//	client := &http.Client{Transport: resilience.Transport(inj.Transport(fake), retry)}
//
// For each request: the delays of the faults that apply are waited out
// (until the request's context is done, which fails the request with the
// context's error); then an action that ends the call answers instead of
// next, which is never called, so no real response is left open: a Status
// is a response with a short text body, Error, the network errors and Hang
// are errors, Panic panics. Otherwise the request goes to next, and the
// body faults wrap the body of its response. The call's key is the
// context's (resilience.KeyFrom) or else the request's host.
//
// The RoundTripper keeps the http.RoundTripper contract: it does not
// modify the request, and it closes the request body on every path,
// including the ones where next is not called.
//
// The RoundTripper has a method CloseIdleConnections that calls next's,
// when next has one, so http.Client.CloseIdleConnections reaches the
// connections of next's pool. That is the one optional method http.Client
// looks for on a RoundTripper that is forwarded; the deprecated
// CancelRequest is not (the request's context cancels it), nor are the
// other methods of *http.Transport (Clone, RegisterProtocol): configure
// next itself.
func (i *Injector) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{i: i, next: next}
}

type transport struct {
	i    *Injector
	next http.RoundTripper
}

// CloseIdleConnections closes the idle connections of the wrapped
// RoundTripper, when it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if t.i.passThrough() {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	key := resilience.KeyFrom(ctx)
	if key == "" && req.URL != nil {
		key = req.URL.Host
	}
	c := Call{Time: time.Now(), Key: key, Request: req}
	p := t.i.plan(ctx, c, true)
	if t.i.rec == nil {
		return t.roundTrip(ctx, c, &p)
	}
	a := Attempt{Start: c.Time, Key: key, Method: method(req), Faults: p.kinds, Delay: p.delay}
	if req.URL != nil {
		a.URL = req.URL.String()
	}
	returned := false
	defer func() {
		a.End, a.Err, a.Panicked = time.Now(), err, !returned
		if resp != nil {
			a.Status = resp.StatusCode
		}
		t.i.rec.add(a)
	}()
	resp, err = t.roundTrip(ctx, c, &p)
	returned = true
	return resp, err
}

func (t *transport) roundTrip(ctx context.Context, c Call, p *plan) (*http.Response, error) {
	req := c.Request
	if p.delay > 0 {
		if err := sleep(ctx, p.delay); err != nil {
			closeBody(req.Body)
			return nil, err
		}
	}
	if a := p.end; a != nil {
		closeBody(req.Body)
		switch a.kind {
		case KindError:
			return nil, a.err
		case KindStatus:
			return statusResponse(req, a), nil
		case KindHang:
			<-ctx.Done()
			return nil, ctx.Err()
		case KindPanic:
			panic(a.panicV)
		default:
			return nil, netError(a.kind, c)
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || len(p.body) == 0 || resp.Body == nil || resp.Body == http.NoBody ||
		resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	for _, a := range p.body {
		resp.Body = wrapBody(ctx, resp.Body, a, c)
	}
	return resp, nil
}

func method(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

func closeBody(b io.ReadCloser) {
	if b != nil && b != http.NoBody {
		_ = b.Close()
	}
}

// statusResponse is the response of a Status action: the status, the
// action's headers and a short text body.
func statusResponse(req *http.Request, a *Action) *http.Response {
	text := strconv.Itoa(a.code)
	if s := http.StatusText(a.code); s != "" {
		text += " " + s
	}
	h := a.header.Clone()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	resp := &http.Response{
		Status:     text,
		StatusCode: a.code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Request:    req,
	}
	if req.Method == http.MethodHead {
		resp.Body = http.NoBody
		return resp
	}
	body := text + "\n"
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(strings.NewReader(body))
	return resp
}

// wrapBody applies the body fault a to a response body.
func wrapBody(ctx context.Context, rc io.ReadCloser, a Action, c Call) io.ReadCloser {
	switch a.kind {
	case KindSlowBody:
		return &slowBody{ReadCloser: rc, ctx: ctx, chunk: int(a.n), every: a.every, closed: make(chan struct{})}
	case KindTruncateBody:
		return &cutBody{ReadCloser: rc, left: a.n, err: io.ErrUnexpectedEOF}
	default: // KindBodyError
		err := a.err
		if err == nil {
			err = netError(KindConnReset, c)
		}
		return &cutBody{ReadCloser: rc, left: a.n, err: err}
	}
}

// errBodyClosed is returned by a read of a slowed body after it was closed.
var errBodyClosed = errors.New("chaos: read on closed response body")

// slowBody delivers a body chunk bytes at a time, pausing before each read.
type slowBody struct {
	io.ReadCloser
	ctx    context.Context
	chunk  int
	every  time.Duration
	closed chan struct{}
	once   sync.Once
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return b.ReadCloser.Read(p)
	}
	if len(p) > b.chunk {
		p = p[:b.chunk]
	}
	if err := b.pause(); err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}

// pause waits b.every, or until the context is done or the body closed.
func (b *slowBody) pause() error {
	select {
	case <-b.closed:
		return errBodyClosed
	case <-b.ctx.Done():
		return b.ctx.Err()
	default:
	}
	if b.every <= 0 {
		return nil
	}
	t := time.NewTimer(b.every)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-b.closed:
		return errBodyClosed
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}

func (b *slowBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return b.ReadCloser.Close()
}

// cutBody fails with err once left bytes were read, unless the body ends
// there anyway.
type cutBody struct {
	io.ReadCloser
	left int64
	err  error
	cut  bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.cut {
		return 0, b.err
	}
	if b.left <= 0 {
		// The cut is here: fail, unless the body was no longer.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		switch {
		case n == 0 && err == io.EOF:
			return 0, io.EOF
		case n == 0 && err == nil:
			return 0, nil
		}
		b.cut = true
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

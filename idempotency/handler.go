package idempotency

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Handler returns an http.Handler that honours idempotency keys for next.
// A request of a guarded method (Config.Methods) with an Idempotency-Key
// header is handled so:
//
//   - the first request with the key executes next, and its response is
//     stored (status, the headers of Config.Headers, body) before it is
//     sent, unless Config.Keep refuses its status (by default a 5xx, 408 or
//     429), which releases the key so a retry executes again;
//   - a request with the key while that execution runs waits up to
//     Config.MaxWait for its outcome, else gets 409 Conflict;
//   - a repeat after it completed gets the stored response, with the
//     header Idempotent-Replayed: true, until Config.TTL has passed;
//   - the same key with another request (Config.Fingerprint: method, path,
//     query and body by default) gets 422;
//   - an invalid key gets 400, as does a missing one when
//     Config.KeyRequired is set; a body longer than Config.MaxRequestBytes
//     gets 413; a failing Store gets 503, and nothing executes.
//
// Errors are answered with problem+json bodies (RFC 9457). Keys are scoped
// by Config.Scope, so that clients never see each other's responses.
//
// Handler buffers the response, up to Config.MaxResponseBytes, until next
// returns, so that the outcome is stored before the client can see it: a
// client that got a response and retries gets the same one. A longer
// response, or one that next flushes, is sent as it is written. Handler
// reads the request body (up to Config.MaxRequestBytes) before next runs,
// and gives next a request whose Body reads those bytes.
//
// # At least once, or exactly once
//
// Handler alone makes next run at most once per key while the process
// lives, and at least once overall: a process that dies in next leaves its
// record in progress until Config.Lease runs out, and a retry then
// executes again, whatever the dead process had already changed. For
// effects exactly once, make them in one SQL transaction with the record:
// call CommitTx with that transaction after writing the response and
// before committing it (the SQLStore supports it).
//
// The http.ResponseWriter that next gets has Flush (which sends what was
// written so far and ends the buffering) and Unwrap; hijacking a connection
// through http.ResponseController bypasses Handler.
//
// Handler panics with an "idempotency: ..." message when next is nil.
func (k *Keys) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("idempotency: Handler with a nil http.Handler")
	}
	return &handler{k: k, next: next}
}

type handler struct {
	k    *Keys
	next http.Handler
}

// ReplayedHeader is the response header that marks a replayed response (as
// Stripe names it).
const ReplayedHeader = "Idempotent-Replayed"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := h.k
	if !k.methods[r.Method] {
		h.next.ServeHTTP(w, r)
		return
	}
	key, err := requestKey(r, k.c.MaxKeyBytes)
	if err == nil && key == "" {
		if !k.c.KeyRequired {
			h.next.ServeHTTP(w, r)
			return
		}
		err = ErrKeyRequired
	}
	if err != nil {
		k.m.refused.Add(1)
		writeProblem(w, err)
		return
	}
	body, err := readBody(r, k.c.MaxRequestBytes)
	if err != nil {
		k.m.refused.Add(1)
		if errors.Is(err, ErrRequestTooLarge) {
			writeProblem(w, err)
		} else {
			http.Error(w, "idempotency: cannot read the request body", http.StatusBadRequest)
		}
		return
	}
	fp := fingerprint(k.c.Fingerprint(r, body))
	e, rec, err := k.acquire(r.Context(), storeKey(k.c.Scope(r), key), fp)
	switch {
	case err != nil:
		if r.Context().Err() == nil {
			writeProblem(w, err)
		}
		return
	case e == nil:
		replay(w, rec)
		return
	}

	c := &httpCall{e: e, w: w, max: k.c.MaxResponseBytes}
	r2 := r.WithContext(context.WithValue(e.ctx, callKey{}, c))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	ok := false
	defer func() {
		if !ok { // next panicked: it failed, so a retry may execute
			e.end()
			e.release(r.Context())
		}
	}()
	h.next.ServeHTTP(c, r2)
	ok = true
	e.end()
	h.finish(r.Context(), c)
}

// finish stores the outcome of an execution and sends its response.
func (h *handler) finish(ctx context.Context, c *httpCall) {
	k, e := h.k, c.e
	status := c.statusOr200()
	switch {
	case c.committed:
		// CommitTx stored the outcome in the handler's transaction. If the
		// transaction committed, the record is done and cannot be
		// extended; if it did not, the record is still ours, and the
		// response describes effects that did not happen.
		err := k.store.Extend(context.WithoutCancel(ctx), e.r.Key, e.r.Token, time.Now().Add(k.c.Lease))
		if err == nil {
			e.release(ctx)
			k.m.notKept.Add(1)
			if !c.sent {
				c.discard()
				http.Error(c.w, "idempotency: the handler's transaction did not commit", http.StatusInternalServerError)
				return
			}
		} else if !errors.Is(err, ErrLeaseLost) {
			k.m.storeFails.Add(1)
		}
	case !k.c.Keep(status):
		e.release(ctx)
		k.m.notKept.Add(1)
	default:
		out, kept := c.outcome(k.headers)
		if !kept {
			k.m.notKept.Add(1)
		}
		err := e.complete(ctx, out)
		if errors.Is(err, ErrTooLarge) && kept {
			k.m.notKept.Add(1)
			err = e.complete(ctx, encodeNotKept())
		}
		switch {
		case errors.Is(err, ErrLeaseLost):
			k.m.leasesLost.Add(1)
		case err != nil:
			// The record stays in progress until its lease runs out; a
			// retry after that executes again.
			k.m.storeFails.Add(1)
		}
	}
	c.send()
}

func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, ErrRequestTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, ErrRequestTooLarge
	}
	return b, nil
}

// replay answers with a stored outcome.
func replay(w http.ResponseWriter, rec Record) {
	kind, resp, _, err := decode(rec.Outcome)
	switch {
	case err != nil || kind == kindValue:
		http.Error(w, errCorrupt.Error(), http.StatusInternalServerError)
	case kind == kindNotKept:
		writeProblem(w, ErrNotKept)
	default:
		h := w.Header()
		for name, vs := range resp.header {
			h[name] = vs
		}
		h.Set(ReplayedHeader, "true")
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body)
	}
}

type callKey struct{}

// httpCall is the http.ResponseWriter of an execution: it buffers the
// response until it is stored.
type httpCall struct {
	e         *execution
	w         http.ResponseWriter
	max       int
	status    int
	buf       []byte
	over      bool // the body is longer than max: not kept
	sent      bool // the status and what was buffered went to w
	committed bool // CommitTx stored the outcome
}

func (c *httpCall) Header() http.Header { return c.w.Header() }

func (c *httpCall) WriteHeader(status int) {
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		c.w.WriteHeader(status) // informational: passed on, not stored
		return
	}
	if c.status == 0 {
		c.status = status
	}
}

func (c *httpCall) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.over {
		if len(c.buf)+len(p) <= c.max {
			c.buf = append(c.buf, p...)
		} else {
			c.over = true
			if !c.sent {
				c.send()
			}
			c.buf = nil
		}
	}
	if c.sent {
		return c.w.Write(p)
	}
	return len(p), nil
}

// Flush sends what was written so far and ends the buffering; what follows
// is sent as it is written.
func (c *httpCall) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.sent {
		c.send()
	}
	_ = http.NewResponseController(c.w).Flush()
}

// Unwrap returns the ResponseWriter of the server, for
// http.ResponseController.
func (c *httpCall) Unwrap() http.ResponseWriter { return c.w }

func (c *httpCall) statusOr200() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// send writes the status and the buffered body, once.
func (c *httpCall) send() {
	if c.sent {
		return
	}
	c.sent = true
	c.w.WriteHeader(c.statusOr200())
	if len(c.buf) > 0 {
		_, _ = c.w.Write(c.buf)
	}
}

// discard drops the response written so far, which was not sent.
func (c *httpCall) discard() {
	c.buf, c.status = nil, 0
	h := c.w.Header()
	for name := range h {
		delete(h, name)
	}
}

// outcome encodes the response; kept is false when only the fact that the
// key was executed can be stored.
func (c *httpCall) outcome(headers []string) (out []byte, kept bool) {
	if c.over {
		return encodeNotKept(), false
	}
	out, ok := encodeResponse(c.statusOr200(), c.w.Header(), headers, c.buf)
	if !ok {
		return encodeNotKept(), false
	}
	return out, true
}

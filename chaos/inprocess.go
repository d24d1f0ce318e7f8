package chaos

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// InProcess returns an http.RoundTripper that serves each request with h,
// in the calling goroutine, without a socket: a client and a server in one
// test, with no port, no connection and no background goroutine. Real
// sockets do not advance virtual time, so inside a testing/synctest bubble
// it is the way to put a server (your handler, or one made with [Handler])
// behind a client and its policies:
//
//	server := chaos.Handler(api, chaos.Fault{When: chaos.First(2), Action: chaos.Status(429, "Retry-After", "1")})
//	client := &http.Client{Transport: resilience.Transport(chaos.InProcess(server), retrier)}
//
// The handler gets a server-side copy of the request (RequestURI, Host and
// RemoteAddr set, a path-only URL) with the caller's context and body. The
// response is returned once the handler has returned (the body is not
// streamed); when the context ended meanwhile, the round trip fails with
// the context's error instead, as a real transport's does. As with a real
// server: a handler that wrote nothing answers 200; a Content-Type is
// sniffed when the handler set none; a handler that panics with
// http.ErrAbortHandler (as Handler's network faults do) makes the round
// trip fail with io.EOF, or, when it had written part of a response, makes
// reading its body fail with io.ErrUnexpectedEOF. Other panics go on to the
// caller: they are bugs the test should see. The request body is always
// closed.
//
// It holds no connection, so it has no CloseIdleConnections method (an
// http.Client's does nothing for it). The handler's writer offers
// http.Flusher (a no-op) and nothing to hijack or push.
//
// It is safe for concurrent use when h is.
func InProcess(h http.Handler) http.RoundTripper {
	if h == nil {
		panic("chaos: InProcess with a nil handler")
	}
	return inProcess{h: h}
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req.Body)
		return nil, errors.New("chaos: request has no URL")
	}
	defer closeBody(req.Body)
	sr := req.Clone(req.Context())
	sr.Body = req.Body
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	sr.Method = method(req)
	sr.RequestURI = req.URL.RequestURI()
	sr.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	if sr.Host == "" {
		sr.Host = req.URL.Host
	}
	sr.RemoteAddr = "192.0.2.1:49152" // TEST-NET-1: an address no real client has
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1

	w := &memWriter{header: http.Header{}}
	aborted := w.serve(t.h, sr)
	switch {
	case req.Context().Err() != nil:
		return nil, req.Context().Err()
	case aborted && !w.wrote:
		return nil, io.EOF
	case aborted:
		return w.response(req, io.ErrUnexpectedEOF), nil
	}
	return w.response(req, nil), nil
}

// memWriter is the ResponseWriter of InProcess: it keeps the response in
// memory.
type memWriter struct {
	header http.Header
	sent   http.Header // the header as it was when the status was written
	code   int
	wrote  bool
	body   bytes.Buffer
}

// serve runs h and reports whether it aborted the response.
func (w *memWriter) serve(h http.Handler, r *http.Request) (aborted bool) {
	defer func() {
		if !aborted {
			return
		}
		// A nil recover is runtime.Goexit (a t.FailNow in the handler): let
		// it go on. Any panic but an abort is the caller's.
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v)
		}
	}()
	aborted = true
	h.ServeHTTP(w, r)
	return false
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(code int) {
	if w.wrote || code < 200 {
		return
	}
	w.code, w.wrote = code, true
	w.sent = w.header.Clone()
}

func (w *memWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		if w.header.Get("Content-Type") == "" && w.header.Get("Transfer-Encoding") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// Flush has nothing to do: the response is returned once complete.
func (w *memWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
}

// response builds the client's response; a non-nil cut is the error that
// reading past the written body returns.
func (w *memWriter) response(req *http.Request, cut error) *http.Response {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	resp := &http.Response{
		Status:     strconv.Itoa(w.code) + " " + http.StatusText(w.code),
		StatusCode: w.code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     w.sent,
		Request:    req,
	}
	var body io.Reader = bytes.NewReader(w.body.Bytes())
	switch {
	case req.Method == http.MethodHead:
		resp.Body = http.NoBody
		return resp
	case cut != nil:
		resp.ContentLength = -1
		body = io.MultiReader(body, errReader{cut})
	default:
		resp.ContentLength = int64(w.body.Len())
	}
	resp.Body = io.NopCloser(body)
	return resp
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

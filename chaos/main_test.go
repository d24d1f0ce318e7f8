package chaos_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// payload is the body of every response of a tracker.
const payload = "hello, chaos world"

// tracker is a fake dependency for Transport: it answers 200 with payload
// and counts the request and response bodies it sees opened and closed.
type tracker struct {
	calls      atomic.Int64
	reqClosed  atomic.Int64 // request bodies it closed (a real transport closes them)
	respOpened atomic.Int64
	respClosed atomic.Int64
	status     int // 0 means 200
}

func (tr *tracker) RoundTrip(req *http.Request) (*http.Response, error) {
	tr.calls.Add(1)
	if req.Body != nil && req.Body != http.NoBody {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
		tr.reqClosed.Add(1)
	}
	code := tr.status
	if code == 0 {
		code = http.StatusOK
	}
	tr.respOpened.Add(1)
	return &http.Response{
		StatusCode:    code,
		Status:        http.StatusText(code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		ContentLength: int64(len(payload)),
		Body:          &countedBody{Reader: strings.NewReader(payload), closed: &tr.respClosed},
		Request:       req,
	}, nil
}

// countedBody counts its first Close in closed.
type countedBody struct {
	io.Reader
	closed *atomic.Int64
	once   sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.closed.Add(1) })
	return nil
}

// requestBody returns a request body that counts its Close in closed.
func requestBody(closed *atomic.Int64) io.ReadCloser {
	return &countedBody{Reader: strings.NewReader("request"), closed: closed}
}

// rtFunc adapts a function to an http.RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

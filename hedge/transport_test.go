package hedge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// fakeServer is an http.RoundTripper in virtual time: request n (0 for the
// first) is answered after latency[n] with the body "answer n", or fails
// with the context's error if the request's context ends first — unless
// ignore is set, which answers whatever the context says. It keeps every
// request body it read and every response body it made.
type fakeServer struct {
	latency []time.Duration
	ignore  bool

	mu     sync.Mutex
	n      int
	bodies []string
	resps  []*trackedBody
	ctxs   []context.Context
}

type trackedBody struct {
	ctx    context.Context
	r      io.Reader
	read   atomic.Int64
	closed atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err // like a real body: unreadable once the request's context is done
	}
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func (f *fakeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	f.mu.Lock()
	n := f.n
	f.n++
	f.bodies = append(f.bodies, string(body))
	f.ctxs = append(f.ctxs, req.Context())
	d := f.latency[min(n, len(f.latency)-1)]
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	if f.ignore {
		<-t.C
	} else {
		select {
		case <-t.C:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	b := &trackedBody{ctx: req.Context(), r: strings.NewReader("answer " + string(rune('0'+n)))}
	f.mu.Lock()
	f.resps = append(f.resps, b)
	f.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: b, Request: req, ContentLength: -1}, nil
}

func (f *fakeServer) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Under resilience.Transport: a GET whose first answer is slow is hedged,
// the caller reads the hedge's body after RoundTrip returned, the first
// request is cancelled — or, when it answers anyway, its body is drained
// and closed — and the winner's context ends once its body is closed.
func TestTransportHedgesAGet(t *testing.T) {
	t.Parallel()
	for _, ignore := range []bool{false, true} {
		name := map[bool]string{false: "the loser is cancelled", true: "the loser answers anyway"}[ignore]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &fakeServer{latency: []time.Duration{ms(100), ms(10)}, ignore: ignore}
				h := hedge.New(hedge.Config{Delay: ms(20)})
				client := &http.Client{Transport: resilience.Transport(srv, h)}
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://api.test/items", nil)
				require.NoError(t, err)
				start := time.Now()
				resp, err := client.Do(req)
				require.NoError(t, err)
				wantAt := ms(30)
				if ignore {
					wantAt = ms(100) // Do waits for the loser, which ignores its cancel
				}
				assert.Equal(t, wantAt, time.Since(start))
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, err, "the winner's body is readable after RoundTrip returned")
				assert.Equal(t, "answer 1", string(got))
				require.NoError(t, resp.Body.Close())
				synctest.Wait()

				assert.Equal(t, 2, srv.requests())
				assert.ErrorIs(t, context.Cause(srv.ctxs[0]), hedge.ErrLost, "the loser's request was cancelled")
				assert.Error(t, srv.ctxs[1].Err(), "the winner's context ended with its body")
				if ignore {
					require.Len(t, srv.resps, 2)
					assert.True(t, srv.resps[0].closed.Load(), "the loser's body is closed")
				} else {
					assert.Len(t, srv.resps, 1, "the loser never answered")
				}
				assert.Equal(t, hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1}, h.Metrics())
			})
		})
	}
}

// Requests that may not be sent twice are not hedged; a POST with an
// Idempotency-Key is, and each attempt sends the whole body, whether the
// request has GetBody or Transport buffers its body.
func TestTransportRepeatable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		key       bool
		getBody   bool
		wantCalls int
		metrics   hedge.Metrics
	}{
		{"POST without Idempotency-Key", http.MethodPost, false, true, 1, hedge.Metrics{Calls: 1, NotRepeatable: 1}},
		{"PATCH without Idempotency-Key", http.MethodPatch, false, true, 1, hedge.Metrics{Calls: 1, NotRepeatable: 1}},
		{"POST with Idempotency-Key", http.MethodPost, true, true, 2, hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1}},
		{"POST with Idempotency-Key, body without GetBody", http.MethodPost, true, false, 2, hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1}},
		{"PUT", http.MethodPut, false, false, 2, hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &fakeServer{latency: []time.Duration{ms(100), ms(10)}}
				h := hedge.New(hedge.Config{Delay: ms(20)})
				client := &http.Client{Transport: resilience.Transport(srv, h)}
				var body io.Reader = strings.NewReader("the payload")
				if !tt.getBody {
					body = io.NopCloser(body) // no GetBody: Transport buffers it
				}
				req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://api.test/items", body)
				require.NoError(t, err)
				if tt.key {
					req.Header.Set("Idempotency-Key", "k1")
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, tt.wantCalls, srv.requests())
				for i, b := range srv.bodies {
					assert.Equal(t, "the payload", b, "attempt %d sent the whole body", i)
				}
				assert.Equal(t, tt.metrics, h.Metrics())
			})
		})
	}
}

// Against a real server (real time: sockets do not advance virtual time):
// the first request to arrive hangs, the other answers; the caller reads
// the winner's body, and the server sees the hung request's connection go
// (its context is cancelled). goleak (TestMain) checks that nothing is
// left.
func TestTransportHTTPServer(t *testing.T) {
	t.Parallel()
	// round is what the server saw of one request of the client.
	type round struct {
		n      atomic.Int32
		gone   chan struct{} // closed when the first request's context ended
		bodies sync.Map      // request number → body
	}
	var cur atomic.Pointer[round]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd := cur.Load()
		i := rd.n.Add(1)
		b, _ := io.ReadAll(r.Body)
		rd.bodies.Store(i, string(b))
		if i == 1 {
			select {
			case <-r.Context().Done(): // the client gave this request up
				close(rd.gone)
			case <-time.After(time.Minute): // a guard, never the expected path
			}
			return
		}
		_, _ = io.WriteString(w, "fast answer")
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	for _, tc := range []struct {
		name, method string
		key          bool
		hedged       bool
	}{
		{"GET", http.MethodGet, false, true},
		{"POST with Idempotency-Key", http.MethodPost, true, true},
		{"POST without Idempotency-Key", http.MethodPost, false, false},
	} {
		rd := &round{gone: make(chan struct{})}
		cur.Store(rd)
		h := hedge.New(hedge.Config{Delay: 20 * time.Millisecond})
		client := &http.Client{Transport: resilience.Transport(tr, h)}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		req, err := http.NewRequestWithContext(ctx, tc.method, srv.URL, strings.NewReader("payload"))
		require.NoError(t, err)
		if tc.key {
			req.Header.Set("Idempotency-Key", "k1")
		}
		if !tc.hedged {
			// Nothing answers the only request: the caller gives up.
			time.AfterFunc(200*time.Millisecond, cancel)
		}
		resp, err := client.Do(req)
		if !tc.hedged {
			require.ErrorIs(t, err, context.Canceled, tc.name)
			<-rd.gone
			assert.EqualValues(t, 1, rd.n.Load(), "%s: sent once", tc.name)
			assert.Equal(t, hedge.Metrics{Calls: 1, NotRepeatable: 1}, h.Metrics(), tc.name)
			cancel()
			continue
		}
		require.NoError(t, err, tc.name)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err, tc.name)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "fast answer", string(got), tc.name)
		select {
		case <-rd.gone:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the first request was never cancelled", tc.name)
		}
		assert.EqualValues(t, 2, rd.n.Load(), tc.name)
		for i := int32(1); i <= 2; i++ {
			b, _ := rd.bodies.Load(i)
			assert.Equal(t, "payload", b, "%s: request %d got the whole body", tc.name, i)
		}
		// Which request reached the server first (and hung) is up to the
		// scheduler: the first attempt's, usually, or the hedge's on a
		// loaded machine.
		m := h.Metrics()
		assert.Equal(t, hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: m.HedgeWins}, m, tc.name)
		cancel()
	}
}

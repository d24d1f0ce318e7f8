package chaos_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/chaos"
)

// connStates is a ConnState hook that keeps the last state of every
// connection of a server.
type connStates struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

func (s *connStates) hook(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[c] = st
}

// count returns how many connections are in state st.
func (s *connStates) count(st http.ConnState) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.state {
		if v == st {
			n++
		}
	}
	return n
}

// TestTransportForwardsCloseIdleConnections sends a request through
// chaos.Transport over a real *http.Transport to a real server, so that
// one connection stays idle in the pool; http.Client.CloseIdleConnections
// must reach that pool and close it.
func TestTransportForwardsCloseIdleConnections(t *testing.T) {
	t.Parallel()
	states := &connStates{state: map[net.Conn]http.ConnState{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = states.hook
	srv.Start()
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()

	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"Transport", chaos.Transport(base)},
		{"Injector.Transport with faults", chaos.New(chaos.Config{Recorder: &chaos.Recorder{}},
			chaos.Fault{Match: chaos.Path("/never"), Action: chaos.EOF()}).Transport(base)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: tc.rt}
			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			_, err = io.Copy(io.Discard, resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Eventually(t, func() bool { return states.count(http.StateIdle) == 1 },
				5*time.Second, time.Millisecond, "the connection went back to the pool")

			client.CloseIdleConnections()
			assert.Eventually(t, func() bool { return states.count(http.StateIdle) == 0 },
				2*time.Second, time.Millisecond, "CloseIdleConnections closed the idle connection")
		})
	}
}

// TestHandlerWritersKeepOptionalInterfaces serves a handler through the
// writers of Injector.Handler (the recorder's, and those of the body
// faults) on real HTTP/1.1 and HTTP/2 servers, and checks that the handler
// finds every optional interface of the server's own writer among
// http.Flusher, http.Pusher (HTTP/2), io.ReaderFrom (HTTP/1.1, for
// sendfile) and io.StringWriter, and that using them works.
func TestHandlerWritersKeepOptionalInterfaces(t *testing.T) {
	t.Parallel()
	type seen struct {
		flusher, pusher, readerFrom, stringWriter bool
		pushErr                                   error
	}
	for _, h2 := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			faults []chaos.Fault
		}{
			{"recorder", nil},
			{"slow body", []chaos.Fault{{Action: chaos.SlowBody(1<<20, 0)}}},
			{"truncate body", []chaos.Fault{{Action: chaos.TruncateBody(1 << 20)}}},
		} {
			t.Run(tc.name+map[bool]string{false: " HTTP/1.1", true: " HTTP/2"}[h2], func(t *testing.T) {
				t.Parallel()
				var mu sync.Mutex
				got := map[string]seen{}
				next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var s seen
					_, s.flusher = w.(http.Flusher)
					_, s.readerFrom = w.(io.ReaderFrom)
					_, s.stringWriter = w.(io.StringWriter)
					if p, ok := w.(http.Pusher); ok {
						s.pusher, s.pushErr = true, p.Push("/style.css", nil)
					}
					mu.Lock()
					got[r.URL.Path] = s
					mu.Unlock()
					_, _ = io.Copy(w, strings.NewReader("hello, "))
					_, _ = io.WriteString(w, "world")
				})
				inj := chaos.New(chaos.Config{Recorder: &chaos.Recorder{}}, tc.faults...)
				mux := http.NewServeMux()
				mux.Handle("/bare", next)
				mux.Handle("/chaos", inj.Handler(next))
				srv := httptest.NewUnstartedServer(mux)
				srv.EnableHTTP2 = h2
				if h2 {
					srv.StartTLS()
				} else {
					srv.Start()
				}
				defer srv.Close()
				client := srv.Client()
				defer client.CloseIdleConnections()
				for _, path := range []string{"/bare", "/chaos"} {
					resp, err := client.Get(srv.URL + path)
					require.NoError(t, err)
					b, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					require.NoError(t, resp.Body.Close())
					assert.Equal(t, "hello, world", string(b))
					assert.Equal(t, h2, resp.ProtoMajor == 2)
				}
				mu.Lock()
				defer mu.Unlock()
				bare, wrapped := got["/bare"], got["/chaos"]
				for name, has := range map[string][2]bool{
					"http.Flusher":    {bare.flusher, wrapped.flusher},
					"http.Pusher":     {bare.pusher, wrapped.pusher},
					"io.ReaderFrom":   {bare.readerFrom, wrapped.readerFrom},
					"io.StringWriter": {bare.stringWriter, wrapped.stringWriter},
				} {
					if has[0] {
						assert.True(t, has[1], "the server's writer is an %s: so is the one chaos passes on", name)
					}
				}
				if bare.pusher {
					assert.Equal(t, bare.pushErr, wrapped.pushErr, "Push reaches the server's writer")
				}
			})
		}
	}
}

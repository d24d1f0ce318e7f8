package nats_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
)

var names atomic.Int64

// unique returns a stream name no other test (or run) uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6, names.Add(1))
}

// sharedConn connects to the machine's NATS server (skipping the test when
// there is none, failing under CI=true); closed with the test.
func sharedConn(t testing.TB) *natsgo.Conn {
	t.Helper()
	url := testenv.Require(t, testenv.NATS)
	nc, err := natsgo.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// testStream creates a stream of its own capturing "<name>.>" on nc's
// server, deleted with the test; it returns the stream name, which is also
// the subject prefix.
func testStream(t testing.TB, nc *natsgo.Conn, mod func(*jetstream.StreamConfig)) string {
	t.Helper()
	return createStream(t, nc, mod, true)
}

// privateStream is testStream for a private server, which goes away with
// its data: nothing to delete.
func privateStream(t testing.TB, nc *natsgo.Conn) string {
	t.Helper()
	return createStream(t, nc, func(c *jetstream.StreamConfig) { c.Storage = jetstream.FileStorage }, false)
}

func createStream(t testing.TB, nc *natsgo.Conn, mod func(*jetstream.StreamConfig), cleanup bool) string {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name := unique("OUTBOX")
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.MemoryStorage}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	if !cleanup {
		return name
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	})
	return name
}

// readStream returns every message of the stream in stream order.
func readStream(t testing.TB, nc *natsgo.Conn, stream string) []jetstream.Msg {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	total := int(s.CachedInfo().State.Msgs)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for len(out) < total {
		batch, err := cons.Fetch(min(total-len(out), 1000), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		require.NoError(t, batch.Error())
	}
	return out
}

// streamMsgs is the number of messages stored in the stream.
func streamMsgs(t testing.TB, nc *natsgo.Conn, stream string) uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	return s.CachedInfo().State.Msgs
}

// newPublisher returns a Publisher on nc, closed with the test.
func newPublisher(t testing.TB, nc *natsgo.Conn, cfg nats.Config) *nats.Publisher {
	p := nats.New(nc, cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

// keyed returns perKey messages for each of keys keys to subject prefix.,
// interleaved (k0#0, k1#0, ..., k0#1, ...). Payload is "key/seq".
func keyed(prefix string, keys, perKey int) []outbox.Message {
	msgs := make([]outbox.Message, 0, keys*perKey)
	for s := range perKey {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			msgs = append(msgs, outbox.Message{
				ID:      fmt.Sprintf("%s-%s-%d", prefix, key, s),
				Topic:   prefix + ".orders." + key,
				Key:     key,
				Payload: fmt.Appendf(nil, "%s/%d", key, s),
			})
		}
	}
	return msgs
}

// checkOrder verifies that every message of want arrived and that, per key,
// first arrivals follow the order of want (duplicates ignored).
func checkOrder(t testing.TB, want []outbox.Message, got []jetstream.Msg) {
	t.Helper()
	pos := make(map[string]int, len(want)) // ID -> index in want
	for i, m := range want {
		pos[m.ID] = i
	}
	seen := make(map[string]bool, len(want))
	lastOfKey := make(map[string]int)
	for _, m := range got {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		i, ok := pos[id]
		require.True(t, ok, "unexpected message %q", id)
		if seen[id] {
			continue
		}
		seen[id] = true
		key := want[i].Key
		if last, ok := lastOfKey[key]; ok {
			require.Greater(t, i, last, "key %s: %s arrived after a later message", key, id)
		}
		lastOfKey[key] = i
	}
	require.Len(t, seen, len(want), "messages missing")
}

// privateServer is a NATS server of the test's own, a child process
// running the nats-server binary (NATS_SERVER_BIN, else nats-server on
// PATH or /usr/sbin/nats-server), which the test may stop and start again
// on the same port and data directory. This module does not import
// nats-server/v2 (outbox/nats/embedded does), so that its users' module
// graph holds only nats.go.
type privateServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func startPrivate(t testing.TB) *privateServer {
	t.Helper()
	ps := &privateServer{t: t, bin: natsServerBin(t), dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ps.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	ps.start()
	t.Cleanup(ps.stop)
	return ps
}

// natsServerBin finds the nats-server binary, skipping the test without
// one (failing it under CI=true).
func natsServerBin(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("NATS_SERVER_BIN"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("nats-server"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	msg := "no nats-server binary (set NATS_SERVER_BIN or install nats-server)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func (ps *privateServer) start() {
	ps.t.Helper()
	cmd := exec.Command(ps.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(ps.port), "-js", "-sd", ps.dir)
	require.NoError(ps.t, cmd.Start())
	ps.cmd = cmd
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ps.port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		require.True(ps.t, time.Now().Before(deadline), "nats-server did not listen on %s: %v", addr, err)
		time.Sleep(20 * time.Millisecond)
	}
}

func (ps *privateServer) stop() {
	if ps.cmd != nil {
		_ = ps.cmd.Process.Signal(syscall.SIGTERM)
		_ = ps.cmd.Wait()
		ps.cmd = nil
	}
}

func (ps *privateServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(ps.port) }

// connect returns a client of the private server that reconnects quickly
// and forever, closed with the test.
func (ps *privateServer) connect(opts ...natsgo.Option) *natsgo.Conn {
	ps.t.Helper()
	opts = append([]natsgo.Option{natsgo.MaxReconnects(-1), natsgo.ReconnectWait(20 * time.Millisecond),
		natsgo.ReconnectJitter(0, 0)}, opts...)
	nc, err := natsgo.Connect(ps.url(), opts...)
	require.NoError(ps.t, err)
	ps.t.Cleanup(nc.Close)
	return nc
}

func allNil(t testing.TB, errs []error) {
	t.Helper()
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
}

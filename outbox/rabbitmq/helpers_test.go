package rabbitmq_test

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/rabbitmq"
)

var names atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s.%d.%d.%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6, names.Add(1))
}

// dial connects to the machine's RabbitMQ (skipping the test when there is
// none, failing under CI=true), through proxy when it is not nil; the
// connection is closed with the test.
func dial(t testing.TB, proxy *gate) *amqp.Connection {
	t.Helper()
	u := testenv.Require(t, testenv.RabbitMQ)
	if proxy != nil {
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		parsed.Host = proxy.addr()
		u = parsed.String()
	}
	conn, err := amqp.Dial(u)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// queue declares a queue of the test's own, deleted with the test.
func queue(t testing.TB, conn *amqp.Connection, args amqp.Table) string {
	t.Helper()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	name := unique("outbox")
	_, err = ch.QueueDeclare(name, true, false, false, false, args)
	require.NoError(t, err)
	admin := dial(t, nil)
	t.Cleanup(func() {
		if ch, err := admin.Channel(); err == nil {
			_, _ = ch.QueueDelete(name, false, false, false)
			ch.Close()
		}
	})
	return name
}

// drain returns the n first messages of q.
func drain(t testing.TB, conn *amqp.Connection, q string, n int) []amqp.Delivery {
	t.Helper()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	deliveries, err := ch.Consume(q, "", true, true, false, false, nil)
	require.NoError(t, err)
	var out []amqp.Delivery
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case d := <-deliveries:
			out = append(out, d)
		case <-timeout:
			t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

// queueLen is the number of messages ready in q.
func queueLen(t testing.TB, conn *amqp.Connection, q string) int {
	t.Helper()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	require.NoError(t, err)
	return info.Messages
}

func newPublisher(t testing.TB, conn *amqp.Connection, cfg rabbitmq.Config) *rabbitmq.Publisher {
	p := rabbitmq.New(conn, cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

// keyed returns perKey messages for each of keys keys to queue q,
// interleaved (k0#0, k1#0, ..., k0#1, ...).
func keyed(q string, keys, perKey int) []outbox.Message {
	msgs := make([]outbox.Message, 0, keys*perKey)
	for s := range perKey {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			msgs = append(msgs, outbox.Message{
				ID:      fmt.Sprintf("%s-%s-%d", q, key, s),
				Topic:   q,
				Key:     key,
				Payload: fmt.Appendf(nil, "%s/%d", key, s),
			})
		}
	}
	return msgs
}

// checkOrder verifies that every message of want arrived and that, per key,
// first arrivals follow the order of want (duplicates ignored).
func checkOrder(t testing.TB, want []outbox.Message, got []amqp.Delivery) {
	t.Helper()
	pos := make(map[string]int, len(want))
	for i, m := range want {
		pos[m.ID] = i
	}
	seen := make(map[string]bool, len(want))
	last := make(map[string]int)
	for _, d := range got {
		i, ok := pos[d.MessageId]
		require.True(t, ok, "unexpected message %q", d.MessageId)
		if seen[d.MessageId] {
			continue
		}
		seen[d.MessageId] = true
		key := want[i].Key
		if l, ok := last[key]; ok {
			require.Greater(t, i, l, "key %s: %s arrived after a later message", key, d.MessageId)
		}
		last[key] = i
	}
	require.Len(t, seen, len(want), "messages missing")
}

func allNil(t testing.TB, errs []error) {
	t.Helper()
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
}

// gate is a TCP proxy to RabbitMQ that can hold back what the broker sends
// (confirms included) and cut every connection.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	held   bool
	cond   *sync.Cond
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newGate(t testing.TB) *gate {
	t.Helper()
	u, err := url.Parse(testenv.Require(t, testenv.RabbitMQ))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &gate{ln: ln, target: u.Host}
	g.cond = sync.NewCond(&g.mu)
	g.wg.Go(g.accept)
	t.Cleanup(g.close)
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, b)
		g.mu.Unlock()
		g.wg.Go(func() { _, _ = io.Copy(b, c); b.Close() })
		g.wg.Go(func() { g.copyHeld(c, b); c.Close() })
	}
}

// copyHeld copies broker -> client, waiting while the gate is held.
func (g *gate) copyHeld(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		g.mu.Lock()
		for g.held {
			g.cond.Wait()
		}
		g.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold stops forwarding what the broker sends until release.
func (g *gate) hold() { g.mu.Lock(); g.held = true; g.mu.Unlock() }

func (g *gate) release() { g.mu.Lock(); g.held = false; g.cond.Broadcast(); g.mu.Unlock() }

// cut closes every proxied connection.
func (g *gate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func (g *gate) close() {
	g.ln.Close()
	g.release()
	g.cut()
	g.wg.Wait()
}

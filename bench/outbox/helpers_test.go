package outboxbench_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// pgDB opens the machine's PostgreSQL (skipping the test when there is
// none, failing under CI=true); closed with the test. It returns the DSN
// too, for notifiers and child processes.
func pgDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	dsn := testenv.Require(t, testenv.Postgres)
	db, err := postgres.Open(dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(16)
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// newOutbox migrates an outbox on tables of its own, dropped with the
// test.
func newOutbox(t testing.TB, db *sql.DB) *outbox.Outbox {
	t.Helper()
	ob := outbox.New(db, outbox.Config{Dialect: outbox.Postgres, Table: outboxtest.Table("e2e")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ob.Migrate(ctx))
	t.Cleanup(func() {
		dropTables(db, ob.Table()+"_dead", ob.Table()+"_lease", ob.Table())
		execIgnore(db, `DROP FUNCTION IF EXISTS "`+ob.Table()+`_notify"()`)
	})
	return ob
}

// dropTables drops the tables named, which need no quoting but are
// quoted anyway.
func dropTables(db *sql.DB, tables ...string) {
	for _, tb := range tables {
		execIgnore(db, `DROP TABLE IF EXISTS "`+tb+`"`)
	}
}

func execIgnore(db *sql.DB, q string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = db.ExecContext(ctx, q)
}

// addTx writes msgs in one committed transaction.
func addTx(t testing.TB, ob *outbox.Outbox, msgs ...outbox.Message) {
	t.Helper()
	require.NoError(t, addRetrying(ob, msgs))
}

// addRetrying adds msgs in a transaction, retried a few times on the
// errors of a busy database.
func addRetrying(ob *outbox.Outbox, msgs []outbox.Message) error {
	ctx := context.Background()
	var err error
	for range 10 {
		var tx *sql.Tx
		if tx, err = ob.DB().BeginTx(ctx, nil); err == nil {
			if err = ob.Add(ctx, tx, msgs...); err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
		}
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// keyName is the name of key k of the tests: key000 … key099.
func keyName(k int) string { return fmt.Sprintf("key%03d", k) }

// round returns message i of every key in keys, with payloads "key/i", to
// subject.
func round(subject string, keys, i int) []outbox.Message {
	msgs := make([]outbox.Message, keys)
	for k := range msgs {
		key := keyName(k)
		msgs[k] = outbox.Message{Topic: subject, Key: key, Payload: fmt.Appendf(nil, "%s/%d", key, i)}
	}
	return msgs
}

// want is what CheckOrder expects after perKey rounds over keys keys.
func want(keys, perKey int) map[string]int {
	w := make(map[string]int, keys)
	for k := range keys {
		w[keyName(k)] = perKey
	}
	return w
}

// natsConn connects to url, reconnecting quickly and for ever; closed with
// the test.
func natsConn(t testing.TB, url string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// sharedNATS connects to the machine's NATS server (skipping the test
// when there is none, failing under CI=true) and returns the connection
// and the server's URL.
func sharedNATS(t testing.TB) (*natsgo.Conn, string) {
	t.Helper()
	url := testenv.Require(t, testenv.NATS)
	return natsConn(t, url), url
}

// newStream creates a file-backed stream capturing "<name>.>", with a
// unique name that is also the subject prefix. With del it is deleted
// when the test ends (a private server goes away with its data instead).
func newStream(t testing.TB, nc *natsgo.Conn, del bool, mod func(*jetstream.StreamConfig)) string {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name := "E2E_" + outboxtest.Table("s")
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	if del {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = js.DeleteStream(ctx, name)
		})
	}
	return name
}

// streamLen returns how many messages the stream holds.
func streamLen(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.Msgs, nil
}

// waitStream waits until the stream holds at least n messages, looking
// every few milliseconds.
func waitStream(t testing.TB, js jetstream.JetStream, stream string, n int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		got, err := streamLen(ctx, js, stream)
		if err == nil && got >= uint64(n) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stream holds %d messages after %v, want %d (last error: %v)", got, d, n, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// consumed is what a JetStream consumer received, in order.
type consumed struct {
	Payloads []string
	IDs      []string
}

// consumeAll reads every message of the stream with an ordered consumer,
// in stream order.
func consumeAll(t testing.TB, nc *natsgo.Conn, stream string) consumed {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total, err := streamLen(ctx, js, stream)
	require.NoError(t, err)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out consumed
	for uint64(len(out.Payloads)) < total {
		batch, err := cons.Fetch(min(int(total)-len(out.Payloads), 1000), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			out.Payloads = append(out.Payloads, string(m.Data()))
			out.IDs = append(out.IDs, m.Headers().Get(jetstream.MsgIDHeader))
		}
		require.NoError(t, batch.Error())
	}
	return out
}

// countingPublisher counts the calls and messages that reach a publisher,
// and, with a shared inflight map, checks that no two relays publish
// messages of one key at the same time.
type countingPublisher struct {
	next outbox.Publisher

	mu       *sync.Mutex
	inflight map[string]int // shared by the publishers of one test
	overlaps *[]string

	calls, msgs, acked int
}

func (p *countingPublisher) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	keys := map[string]bool{}
	p.mu.Lock()
	p.calls++
	p.msgs += len(msgs)
	for _, m := range msgs {
		if !keys[m.Key] {
			keys[m.Key] = true
			if p.inflight[m.Key] > 0 {
				*p.overlaps = append(*p.overlaps, m.Key)
			}
			p.inflight[m.Key]++
		}
	}
	p.mu.Unlock()
	p.next.Publish(ctx, msgs, errs)
	p.mu.Lock()
	for k := range keys {
		p.inflight[k]--
	}
	for _, err := range errs {
		if err == nil {
			p.acked++
		}
	}
	p.mu.Unlock()
}

// counts returns the calls, messages handed over and messages acknowledged
// so far.
func (p *countingPublisher) counts() (calls, msgs, acked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.msgs, p.acked
}

// counting returns n publishers wrapping next that share one in-flight
// check; overlaps returns the keys found published twice at once.
func counting(next outbox.Publisher, n int) (pubs []*countingPublisher, overlaps func() []string) {
	mu := new(sync.Mutex)
	inflight := map[string]int{}
	var ov []string
	for range n {
		pubs = append(pubs, &countingPublisher{next: next, mu: mu, inflight: inflight, overlaps: &ov})
	}
	return pubs, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ov...)
	}
}

// start runs fn on a goroutine until the test ends.
func start(t testing.TB, fn func(context.Context) error) {
	t.Helper()
	stop := goRun(fn)
	t.Cleanup(stop)
}

// goRun runs fn on a goroutine; the returned function cancels its context
// and waits for it to return.
func goRun(fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// eventually waits up to d for cond, looking every 20 ms.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backlog returns the number of messages waiting in the outbox.
func backlog(t testing.TB, ob *outbox.Outbox) int64 {
	t.Helper()
	st, err := ob.Stats(context.Background())
	require.NoError(t, err)
	return st.Backlog
}

func itoa(i int) string { return strconv.Itoa(i) }

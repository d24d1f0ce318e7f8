package outboxtest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// The environment of a crash child.
const (
	envChild = "OUTBOXTEST_CHILD"
	envDSN   = "OUTBOXTEST_DSN"
	envTable = "OUTBOXTEST_TABLE"
	envBlock = "OUTBOXTEST_BLOCK" // a payload the child's broker never acknowledges
	envDelay = "OUTBOXTEST_DELAY" // how long each publish call of the child's broker takes
	envBatch = "OUTBOXTEST_BATCH" // the child relay's BatchSize, when not CrashBatch
)

// Child runs a crash child's relay and exits, when the environment says
// this process is one; otherwise it returns at once. Call it first thing
// in TestMain.
func Child(s Suite) {
	RunIfChild(envChild, func() error { return runChild(s, os.Getenv(envDSN), os.Getenv(envTable)) })
}

func runChild(s Suite, dsn, table string) error {
	db, err := s.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ob := outbox.New(db, outbox.Config{Dialect: s.Dialect, Table: table})
	rec := &dbRecorder{db: db, d: s.Dialect, table: quote(s.Dialect, table+"_rec"), block: os.Getenv(envBlock)}
	if d := os.Getenv(envDelay); d != "" {
		if rec.delay, err = time.ParseDuration(d); err != nil {
			return err
		}
	}
	// A child stops by itself in case its parent could not kill it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := CrashRelayConfig()
	if b := os.Getenv(envBatch); b != "" {
		if c.BatchSize, err = strconv.Atoi(b); err != nil {
			return err
		}
	}
	r := outbox.NewRelay(ob, rec, c)
	return r.Run(ctx)
}

// dbRecorder is the crash test's broker: it stores what it receives in a
// table, committed before it acknowledges, so that what was acknowledged
// survives the kill of the process.
type dbRecorder struct {
	db    *sql.DB
	d     outbox.Dialect
	table string
	block string
	delay time.Duration
}

func (r *dbRecorder) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	for i, m := range msgs {
		if r.block != "" && string(m.Payload) == r.block {
			// What comes before the blocked message must be recorded
			// before the hang, or the test waits for it in vain: on a
			// busy machine the insert can fail (SQLITE_BUSY), so try
			// again until it is in.
			for {
				r.Publish(ctx, msgs[:i], errs[:i])
				if i == 0 || errs[0] == nil || ctx.Err() != nil {
					break
				}
				fmt.Fprintln(os.Stderr, "recorder: insert before the block:", errs[0])
				time.Sleep(50 * time.Millisecond)
			}
			select {} // hangs, holding the lease, until killed
		}
	}
	if r.delay > 0 {
		// A slow broker: the messages are on the wire, and arrive (are
		// recorded) after the delay whatever becomes of the relay's
		// context meanwhile, so that a pause of the process between
		// the claim and the arrival delivers them late.
		time.Sleep(r.delay)
		ctx = context.WithoutCancel(ctx)
	}
	q := "INSERT INTO " + r.table + " (payload, fence) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?),", len(msgs)), ",")
	if r.d == outbox.Postgres {
		var b strings.Builder
		n := 0
		for _, c := range q {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		q = b.String()
	}
	args := make([]any, 0, 2*len(msgs))
	for _, m := range msgs {
		args = append(args, string(m.Payload), m.Headers[outbox.FenceHeader])
	}
	_, err := r.db.ExecContext(ctx, q, args...)
	for i := range errs {
		errs[i] = err
	}
}

func recTable(d outbox.Dialect, table string) string {
	t := quote(d, table+"_rec")
	switch d {
	case outbox.Postgres:
		return "CREATE TABLE " + t + " (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload TEXT NOT NULL, fence TEXT)"
	case outbox.MySQL:
		return "CREATE TABLE " + t + " (seq BIGINT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(255) NOT NULL, fence VARCHAR(32))"
	default:
		return "CREATE TABLE " + t + " (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, fence TEXT)"
	}
}

func startChild(t *testing.T, s Suite, table string, env ...string) *Process {
	t.Helper()
	return StartChild(t, envChild, append([]string{envDSN + "=" + s.DSN, envTable + "=" + table}, env...)...)
}

// testCrash: two relay processes publish 20,000 messages over 100 keys
// while a writer adds them; one of them is killed with SIGKILL at random
// moments and restarted. At the recording broker every message arrived,
// per-key order holds ignoring repeats, and the repeats are bounded by
// what the killed relays could have had in flight.
func testCrash(t *testing.T, s Suite) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	e := newEnv(t, s, outbox.Config{})
	table := e.ob.Table()
	_, err := e.db.Exec(recTable(s.Dialect, table))
	require.NoError(t, err)

	total := s.CrashMessages
	if total == 0 {
		total = 20000
	}
	const keys = 100
	per := total / keys
	want := perKey(keys, per)

	// The writer: per rounds of one message per key, in transactions of
	// a hundred messages, spread over about six seconds, so that the
	// relays are killed while messages flow.
	w := startWriter(e, keys, per, 6*time.Second/time.Duration(per))

	var logs []string
	children := []*Process{startChild(t, s, table), startChild(t, s, table)}
	defer func() {
		for _, c := range children {
			logs = append(logs, c.Kill())
		}
		if t.Failed() {
			for _, l := range logs {
				t.Log(l)
			}
		}
	}()
	kills := 0
	deadline := time.Now().Add(4 * time.Minute)
	// Each child is killed at a random moment between 0.3 s and 1 s after
	// it started (it needs a moment to start relaying), until the
	// backlog has drained.
	killAt := func() time.Time { return time.Now().Add(time.Duration(300+rand.IntN(700)) * time.Millisecond) }
	due := []time.Time{killAt(), killAt()}
	for {
		time.Sleep(20 * time.Millisecond)
		if w.written(t) && e.backlog(t) == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "backlog did not drain: %d left", e.backlog(t))
		for i := range children {
			if kills < 40 && time.Now().After(due[i]) {
				logs = append(logs, children[i].Kill())
				kills++
				children[i] = startChild(t, s, table)
				due[i] = killAt()
			}
		}
	}

	rows, err := e.db.Query("SELECT payload FROM " + quote(s.Dialect, table+"_rec") + " ORDER BY seq")
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		got = append(got, p)
	}
	require.NoError(t, rows.Err())
	rep := CheckOrder(got, want)
	assert.Empty(t, rep.Missing, "at least once")
	assert.Empty(t, rep.Reordered, "per-key order")
	assert.Empty(t, rep.Unknown)
	assert.Equal(t, total, rep.Unique)
	// A killed relay repeats at most the batch it had in flight, and the
	// messages it published and could not acknowledge.
	assert.LessOrEqual(t, rep.Duplicates, kills*CrashBatch, "duplicates only from crash windows")
	t.Logf("%s: %d messages, %d kills, %d duplicates", s.Dialect, total, kills, rep.Duplicates)
}

// perKey is the count of messages CheckOrder wants of each of keys keys
// (key000, key001, ...) that a writer of per rounds adds.
func perKey(keys, per int) map[string]int {
	want := make(map[string]int, keys)
	for k := range keys {
		want[fmt.Sprintf("key%03d", k)] = per
	}
	return want
}

// A writer adds messages in the background while a test stops or kills
// relays: per rounds of one message to each of keys keys (key000, key001,
// ...; payload "key/round"), a round a transaction, with a pause after
// each round.
type writer struct {
	err      chan error // the first failure, or nil once every round is written
	finished bool
}

// startWriter starts a writer adding to e's outbox.
func startWriter(e *env, keys, per int, pause time.Duration) *writer {
	w := &writer{err: make(chan error, 1)}
	go func() {
		for i := range per {
			batch := make([]outbox.Message, 0, keys)
			for k := range keys {
				key := fmt.Sprintf("key%03d", k)
				batch = append(batch, outbox.Message{Topic: "t", Key: key, Payload: fmt.Appendf(nil, "%s/%d", key, i)})
			}
			if err := addRetrying(e, batch); err != nil {
				w.err <- err
				return
			}
			time.Sleep(pause)
		}
		w.err <- nil
	}()
	return w
}

// written reports whether every round was written, without waiting; it
// fails t when the writer failed. It is called from the test's goroutine
// only.
func (w *writer) written(t *testing.T) bool {
	if !w.finished {
		select {
		case err := <-w.err:
			require.NoError(t, err)
			w.finished = true
		default:
		}
	}
	return w.finished
}

// addRetrying adds msgs in a transaction, retried on the transient errors
// of a busy database.
func addRetrying(e *env, msgs []outbox.Message) error {
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		tx, err := e.db.BeginTx(ctx, nil)
		if err == nil {
			if err = e.ob.Add(ctx, tx, msgs...); err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
		}
		if err == nil || attempt >= 20 || !retryable(err) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testTakeover: a relay process dies (SIGKILL) while it publishes a key;
// another relay takes the key over once the lease has expired, and
// publishes the rest in order.
func testTakeover(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	table := e.ob.Table()
	_, err := e.db.Exec(recTable(s.Dialect, table))
	require.NoError(t, err)
	e.add(t, msgs("k", 0, 20)...)
	c := startChild(t, s, table, envBlock+"=k/10")
	defer c.Kill()
	var n int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		require.NoError(t, e.db.QueryRow("SELECT COUNT(*) FROM "+quote(s.Dialect, table+"_rec")).Scan(&n))
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the child had recorded %d of k/0..k/9; its output:\n%s", n, c.Kill())
		}
	}
	c.Kill()
	killed := time.Now()
	rec := NewRecorder()
	e.run(t, rec, outbox.RelayConfig{PollInterval: 20 * time.Millisecond})
	rep := rec.WaitAll(t, map[string]int{"k": 20}, 30*time.Second)
	took := time.Since(killed)
	got := payloads(rec.Messages())
	// The dead relay's batch (k/0..k/19) was never acknowledged: it is
	// published again whole, in order; k/0..k/9 are the crash window's
	// duplicates.
	assert.Equal(t, payloads(msgs("k", 0, 20)), got)
	assert.Empty(t, rep.Reordered)
	assert.GreaterOrEqual(t, took, CrashLeaseTTL/2, "the key was held until its lease expired")
	assert.Less(t, took, 10*CrashLeaseTTL, "and taken over soon after")
	t.Logf("taken over %v after the kill (lease TTL %v)", took.Round(time.Millisecond), CrashLeaseTTL)
}

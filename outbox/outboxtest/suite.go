// Package outboxtest holds the conformance tests of the outbox against a
// real database, shared by the modules that bring a driver (outbox/sqlite,
// outbox/postgres, outbox/mysql), and the tools they use: a recording
// publisher that checks per-key order and exclusivity, a TCP proxy that
// cuts database connections, and a crash harness that runs a relay in a
// child process and kills it with SIGKILL.
//
// A driver module runs the suite from one test and hooks the crash child
// into its TestMain:
//
//	func TestMain(m *testing.M) {
//		outboxtest.Child(suite)    // runs the relay and exits when this is a crash child
//		goleak.VerifyTestMain(m)
//	}
//
//	func TestConformance(t *testing.T) { outboxtest.Run(t, suite) }
package outboxtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// Suite describes the database under test.
type Suite struct {
	// Dialect of the database.
	Dialect outbox.Dialect
	// DSN is what Open connects to; crash children get it through their
	// environment.
	DSN string
	// Open returns a new pool for dsn.
	Open func(dsn string) (*sql.DB, error)
	// ProxyDSN, when not nil, returns dsn rewritten to go through a TCP
	// proxy at addr (host:port) instead of the database's address, for
	// the connection-loss test. Nil skips that test (SQLite).
	ProxyDSN func(dsn, addr string) string
	// Upstream is the database's host:port, for the proxy.
	Upstream string
	// CrashMessages is how many messages the crash test sends (default
	// 20,000).
	CrashMessages int
	// OwnDSN, when not nil, returns the DSN of a database of its own named
	// name, for the paused-relay test: a relay stopped with SIGSTOP while it
	// holds a database-wide lock (SQLite's one write lock) would stop every
	// other test on the database for as long. Nil: the tests share DSN.
	OwnDSN func(name string) string
}

// Run runs every conformance test, in parallel, each on tables of its own.
func Run(t *testing.T, s Suite) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s Suite)
	}{
		{"Migrate", testMigrate},
		{"AddAndPublish", testAddAndPublish},
		{"LargeAdd", testLargeAdd},
		{"AddWith", testAddWith},
		{"ExactInputs", testExactInputs},
		{"ByteBudgets", testByteBudgets},
		{"Rollback", testRollback},
		{"LateCommitNotSkipped", testLateCommit},
		{"LateCommitDoesNotOvertake", testNoOvertake},
		{"LockKeys", testLockKeys},
		{"RelaysShareWork", testRelaysShare},
		{"PoisonDeadLetterRedrive", testPoison},
		{"Rejected", testRejected},
		{"Expired", testExpired},
		{"Delayed", testDelayed},
		{"Retention", testRetention},
		{"Stats", testStats},
		{"Shutdown", testShutdown},
		{"Inbox", testInbox},
		{"InboxConcurrent", testInboxConcurrent},
		{"InboxFenced", testInboxFenced},
		{"ConnectionLoss", testConnectionLoss},
		{"Crash", testCrash},
		{"Takeover", testTakeover},
		{"PausedRelay", testPaused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

// Table returns a fresh table name with the given prefix.
func Table(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// env is one test's database: a pool and an outbox on its own tables.
type env struct {
	s  Suite
	db *sql.DB
	ob *outbox.Outbox
}

func newEnv(t *testing.T, s Suite, c outbox.Config) *env {
	t.Helper()
	db := open(t, s, s.DSN)
	if c.Table == "" {
		c.Table = Table("ob")
	}
	c.Dialect = s.Dialect
	ob := outbox.New(db, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ob.Migrate(ctx))
	t.Cleanup(func() { dropTables(db, s.Dialect, c.Table) })
	return &env{s: s, db: db, ob: ob}
}

func open(t *testing.T, s Suite, dsn string) *sql.DB {
	t.Helper()
	db, err := s.Open(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func dropTables(db *sql.DB, d outbox.Dialect, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, suffix := range []string{"", "_dead", "_lease", "_lock", "_keylock", "_rec", "_inbox", "_fence"} {
		_, _ = db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(d, table+suffix))
	}
	if d == outbox.Postgres {
		_, _ = db.ExecContext(ctx, "DROP FUNCTION IF EXISTS "+quote(d, table+"_notify")+"()")
		_, _ = db.ExecContext(ctx, "DROP SEQUENCE IF EXISTS "+quote(d, table+"_fence"))
	}
}

func quote(d outbox.Dialect, name string) string {
	if d == outbox.MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// add writes msgs in one committed transaction.
func (e *env) add(t testing.TB, msgs ...outbox.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.ob.Add(ctx, tx, msgs...))
	require.NoError(t, tx.Commit())
}

// msgs returns n messages of topic "t" for key, with payloads key/0, key/1…
func msgs(key string, from, n int) []outbox.Message {
	out := make([]outbox.Message, n)
	for i := range out {
		out[i] = outbox.Message{Topic: "t", Key: key, Payload: fmt.Appendf(nil, "%s/%d", key, from+i)}
	}
	return out
}

// run starts a relay until the test ends and returns it.
func (e *env) run(t testing.TB, pub outbox.Publisher, c outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	if c.PollInterval == 0 {
		c.PollInterval = 20 * time.Millisecond
	}
	r := outbox.NewRelay(e.ob, pub, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// payloads returns the payloads of ms as strings.
func payloads(ms []outbox.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload)
	}
	return out
}

// backlog returns the number of waiting rows.
func (e *env) backlog(t testing.TB) int64 {
	t.Helper()
	st, err := e.ob.Stats(context.Background())
	require.NoError(t, err)
	return st.Backlog
}

// eventually waits up to d for cond.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runRelay runs r until the returned function is called, which waits for
// Run to return.
func runRelay(r *outbox.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

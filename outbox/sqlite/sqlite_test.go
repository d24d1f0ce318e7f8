package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/health"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/sqlite"
)

func TestConformance(t *testing.T) {
	outboxtest.Run(t, suite(t.TempDir()))
}

// An idle relay does not take SQLite's write lock: while another
// connection holds it, the relay's polls of an empty outbox fail none,
// even with a busy timeout far shorter than the hold. (Before, every poll
// was a write transaction, which Add and every other writer then waited
// for.)
func TestIdleRelayLeavesTheWriteLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite", strings.Replace(sqlite.DSN(path), "busy_timeout(10000)", "busy_timeout(20)", 1))
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	ob := outbox.New(db, outbox.Config{Dialect: sqlite.Dialect})
	require.NoError(t, ob.Migrate(ctx))

	holder, err := sqlite.Open(path)
	require.NoError(t, err)
	defer holder.Close()
	tx, err := holder.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	require.NoError(t, err)

	var errs atomic.Int64
	pub := outbox.NewMemoryPublisher()
	r := outbox.NewRelay(ob, pub, outbox.RelayConfig{PollInterval: 5 * time.Millisecond,
		OnError: func(context.Context, error) { errs.Add(1) }})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	time.Sleep(300 * time.Millisecond) // some 60 polls
	assert.Zero(t, errs.Load(), "a poll waited for the write lock")

	// The holder adds a message and commits: the relay publishes it.
	require.NoError(t, ob.Add(ctx, tx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("p")}))
	require.NoError(t, tx.Commit())
	require.Eventually(t, func() bool { return len(pub.Messages()) == 1 }, 10*time.Second, 5*time.Millisecond)
	stop()
	require.NoError(t, <-done)
}

// health.Outbox against a real database: the backlog over its bound fails
// the check, and a reading is reused until Every has passed.
func TestHealthCheck(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "outbox.db"))
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	ob := outbox.New(db, outbox.Config{Dialect: sqlite.Dialect})
	require.NoError(t, ob.Migrate(ctx))
	check := health.Outbox(ob, health.OutboxLimits{MaxBacklog: 1, Every: time.Hour})
	fresh := health.Outbox(ob, health.OutboxLimits{MaxBacklog: 1, Every: time.Nanosecond})
	assert.Equal(t, health.Pass, check(ctx).Status)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, ob.Add(ctx, tx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("1")},
		outbox.Message{Topic: "t", Key: "k", Payload: []byte("2")}))
	require.NoError(t, tx.Commit())

	assert.Equal(t, health.Pass, check(ctx).Status, "the last reading, until Every passed")
	r := fresh(ctx)
	assert.Equal(t, health.Fail, r.Status)
	assert.Contains(t, r.Output, "backlog 2 over 1")
	assert.EqualValues(t, 2, r.ObservedValue)

	db.Close()
	r = fresh(ctx)
	assert.Equal(t, health.Fail, r.Status, "stats that cannot be read fail the check")
	assert.Contains(t, r.Output, "outbox stats")
}

package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/outboxtest"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, suite(t))
}

// setup returns an outbox on fresh tables, dropped when the test ends.
func setup(t testing.TB, dsn string) *outbox.Outbox {
	t.Helper()
	db, err := postgres.Open(dsn)
	require.NoError(t, err)
	table := outboxtest.Table("pg")
	ob := outbox.New(db, outbox.Config{Dialect: outbox.Postgres, Table: table})
	require.NoError(t, ob.Migrate(context.Background()))
	t.Cleanup(func() {
		for _, s := range []string{"", "_dead", "_lease"} {
			_, _ = db.Exec(`DROP TABLE IF EXISTS "` + table + s + `"`)
		}
		_, _ = db.Exec(`DROP FUNCTION IF EXISTS "` + table + `_notify"()`)
		db.Close()
	})
	return ob
}

func add(t testing.TB, ob *outbox.Outbox, msgs ...outbox.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := ob.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, ob.Add(ctx, tx, msgs...))
	require.NoError(t, tx.Commit())
}

func start(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// listening subscribes to n and waits for the wake-up Run sends once it
// listens.
func listening(t testing.TB, n *postgres.Notifier) {
	t.Helper()
	c, cancel := n.Subscribe()
	defer cancel()
	select {
	case <-c:
	case <-time.After(20 * time.Second):
		t.Fatal("the notifier does not listen")
	}
}

// TestNotifierWakesRelay: with a poll interval of an hour, only the
// notification can make the relay publish.
func TestNotifierWakesRelay(t *testing.T) {
	t.Parallel()
	dsn := suite(t).DSN
	ob := setup(t, dsn)
	n := postgres.NewNotifier(dsn, ob.Table(), postgres.NotifierConfig{})
	start(t, n.Run)
	listening(t, n)
	pub := outbox.NewMemoryPublisher()
	r := outbox.NewRelay(ob, pub, outbox.RelayConfig{Notifier: n, PollInterval: time.Hour})
	start(t, r.Run)
	time.Sleep(100 * time.Millisecond) // the relay's first, empty, claim
	for i := range 3 {
		add(t, ob, outbox.Message{Topic: "t", Key: "k", Payload: fmt.Appendf(nil, "%d", i)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pub.Wait(ctx, i+1)
		cancel()
		require.NoError(t, err, "message %d not published on notification", i)
	}

	// A rolled-back transaction notifies nobody.
	c, cancel := n.Subscribe()
	defer cancel()
	select {
	case <-c:
	default:
	}
	tx, err := ob.DB().Begin()
	require.NoError(t, err)
	require.NoError(t, ob.Add(context.Background(), tx, outbox.Message{Topic: "t"}))
	require.NoError(t, tx.Rollback())
	select {
	case <-c:
		t.Fatal("notified of a rolled-back insert")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestTerminatedConnections: pg_terminate_backend kills every connection
// of the relay and of the notifier mid-run (what a database restart does
// to them, without restarting the shared server): both recover by
// themselves and every message arrives, in order per key.
func TestTerminatedConnections(t *testing.T) {
	t.Parallel()
	dsn := suite(t).DSN
	ob := setup(t, dsn)
	app := outboxtest.Table("relay")
	rdsn := withParam(t, dsn, "application_name", app)
	rdb, err := postgres.Open(rdsn)
	require.NoError(t, err)
	defer rdb.Close()
	rob := outbox.New(rdb, outbox.Config{Dialect: outbox.Postgres, Table: ob.Table()})
	n := postgres.NewNotifier(rdsn, ob.Table(), postgres.NotifierConfig{})
	start(t, n.Run)
	listening(t, n)
	rec := outboxtest.NewRecorder()
	r := outbox.NewRelay(rob, rec, outbox.RelayConfig{Notifier: n, PollInterval: time.Hour, LeaseTTL: time.Second, BatchSize: 10})
	start(t, r.Run)

	kill := func() int {
		var killed int
		require.NoError(t, ob.DB().QueryRow(
			"SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&killed))
		return killed
	}
	const keys, per = 5, 30
	want := map[string]int{}
	totalKilled := 0
	for i := range per {
		var batch []outbox.Message
		for k := range keys {
			key := fmt.Sprintf("k%d", k)
			want[key] = per
			batch = append(batch, outbox.Message{Topic: "t", Key: key, Payload: fmt.Appendf(nil, "%s/%d", key, i)})
		}
		add(t, ob, batch...)
		if i%10 == 5 {
			totalKilled += kill()
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Positive(t, totalKilled)
	// The poll interval is an hour: the last messages arrive only if the
	// notifier reconnected.
	rep := rec.WaitAll(t, want, 60*time.Second)
	assert.Empty(t, rep.Reordered)
	assert.Empty(t, rec.Overlaps())
}

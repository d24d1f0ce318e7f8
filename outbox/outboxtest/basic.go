package outboxtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/retry"
)

func testMigrate(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	ctx := waitCtx(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = e.ob.Migrate(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, e.ob.Migrate(ctx))
	e.add(t, msgs("k", 0, 1)...)
	assert.EqualValues(t, 1, e.backlog(t))
}

func testAddAndPublish(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	in := []outbox.Message{
		{Topic: "orders", Key: "o-1", Payload: []byte(`{"id":1}`), Headers: map[string]string{"type": "OrderCreated", "trace": "abc"}},
		{ID: "my-own-id", Topic: "orders", Key: "o-1", Payload: nil},
		{Topic: "users", Key: "", Payload: []byte{0, 1, 2, 255}},
	}
	before := time.Now().Add(-time.Minute)
	e.add(t, in...)
	require.NotEmpty(t, in[0].ID, "Add fills in the IDs")
	require.Equal(t, "my-own-id", in[1].ID)
	require.NotEqual(t, in[0].ID, in[2].ID)

	pub := outbox.NewMemoryPublisher()
	r := e.run(t, pub, outbox.RelayConfig{})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 3)
	require.NoError(t, err)
	require.Len(t, got, 3)
	var last uint64
	for i, m := range got {
		assert.Equal(t, in[i].ID, m.ID)
		assert.Equal(t, in[i].Topic, m.Topic)
		assert.Equal(t, in[i].Key, m.Key)
		assert.Equal(t, string(in[i].Payload), string(m.Payload))
		f := fenceOf(t, m)
		assert.Greater(t, f, last, "fences grow in publishing order")
		last = f
		assert.Equal(t, in[i].Headers, withoutFence(m.Headers))
		assert.Zero(t, m.Attempts)
		assert.True(t, m.CreatedAt.After(before), "CreatedAt %v", m.CreatedAt)
	}
	eventually(t, 10*time.Second, func() bool { return e.backlog(t) == 0 }, "backlog drains")
	assert.EqualValues(t, 3, r.Metrics().Published)

	// Invalid messages write nothing.
	tx, err := e.db.Begin()
	require.NoError(t, err)
	err = e.ob.Add(context.Background(), tx, outbox.Message{Topic: "t"}, outbox.Message{Topic: ""})
	require.ErrorIs(t, err, outbox.ErrInvalidMessage)
	require.NoError(t, tx.Commit())
	assert.EqualValues(t, 0, e.backlog(t))
}

// testLargeAdd: one Add of more messages than one statement takes.
func testLargeAdd(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{LockKeys: true})
	var all []outbox.Message
	for k := range 5 {
		all = append(all, msgs(fmt.Sprintf("k%d", k), 0, 500)...)
	}
	e.add(t, all...)
	assert.EqualValues(t, 2500, e.backlog(t))
	ids := map[string]bool{}
	for _, m := range all {
		ids[m.ID] = true
	}
	assert.Len(t, ids, 2500)
}

// testAddWith: Add writes with a *sql.Tx, a *sql.DB, a *sql.Conn and a
// transaction begun on a *sql.Conn; a rolled-back Conn transaction writes
// nothing.
func testAddWith(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{LockKeys: true})
	ctx := context.Background()

	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.ob.Add(ctx, tx, msgs("tx", 0, 2)...))
	require.NoError(t, tx.Commit())

	require.NoError(t, e.ob.Add(ctx, e.db, msgs("db", 0, 2)...))

	conn, err := e.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, e.ob.Add(ctx, conn, msgs("conn", 0, 2)...))
	rolled, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.ob.Add(ctx, rolled, msgs("rolled-back", 0, 2)...))
	require.NoError(t, rolled.Rollback())
	ctTx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.ob.Add(ctx, ctTx, msgs("conntx", 0, 2)...))
	require.NoError(t, ctTx.Commit())
	require.NoError(t, conn.Close())

	var nilTx *sql.Tx
	require.ErrorIs(t, e.ob.Add(ctx, nilTx, msgs("nil", 0, 1)...), outbox.ErrInvalidMessage)

	assert.EqualValues(t, 8, e.backlog(t))
	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 8)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"tx/0", "tx/1", "db/0", "db/1", "conn/0", "conn/1", "conntx/0", "conntx/1"}, payloads(got))
}

func testRollback(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.ob.Add(ctx, tx, msgs("k", 0, 5)...))
	require.NoError(t, tx.Rollback())
	e.add(t, msgs("after", 0, 1)...)

	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	_, err = pub.Wait(waitCtx(t, 20*time.Second), 1)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, []string{"after/0"}, payloads(pub.Messages()))
}

// testLateCommit: a transaction that inserted first but commits last is
// published after the later one, not skipped.
func testLateCommit(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	ctx := context.Background()
	if s.Dialect == outbox.SQLite {
		// One writer: the second transaction cannot insert before the
		// first commits, so insertion order is commit order.
		t.Skip("SQLite serializes writers")
	}
	early, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer early.Rollback()
	require.NoError(t, e.ob.Add(ctx, early, outbox.Message{Topic: "t", Key: "k", Payload: []byte("early-insert")}))

	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	e.add(t, outbox.Message{Topic: "t", Key: "k", Payload: []byte("late-insert")})
	_, err = pub.Wait(waitCtx(t, 20*time.Second), 1)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // the relay polls every 20 ms
	require.NoError(t, early.Commit())
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"late-insert", "early-insert"}, payloads(got), "commit order")
}

// testNoOvertake: while one relay publishes a key, a row of that key that
// commits late (with a smaller id) waits for it even on another relay.
func testNoOvertake(t *testing.T, s Suite) {
	if s.Dialect == outbox.SQLite {
		t.Skip("SQLite serializes writers")
	}
	e := newEnv(t, s, outbox.Config{})
	ctx := context.Background()
	early, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer early.Rollback()
	require.NoError(t, e.ob.Add(ctx, early, outbox.Message{Topic: "t", Key: "k", Payload: []byte("early")}))
	e.add(t, outbox.Message{Topic: "t", Key: "k", Payload: []byte("late")})

	rec := NewRecorder()
	entered := make(chan struct{}, 1)
	unblock := make(chan struct{})
	rec.SetHook(func(ctx context.Context, m outbox.Message) error {
		if string(m.Payload) == "late" {
			entered <- struct{}{}
			<-unblock
		}
		return nil
	})
	e.run(t, rec, outbox.RelayConfig{})
	<-entered // relay A is publishing "late"
	require.NoError(t, early.Commit())
	e.run(t, rec, outbox.RelayConfig{}) // relay B must leave key k alone
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, rec.Len(), "nothing of k overtakes the message in flight")
	close(unblock)
	rec.WaitLen(t, 2, 20*time.Second)
	assert.Equal(t, []string{"late", "early"}, payloads(rec.Messages()))
	assert.Empty(t, rec.Overlaps())
}

// testLockKeys: with LockKeys, a second writer of a key waits for the
// first, so insertion order is commit order.
func testLockKeys(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{LockKeys: true})
	ctx := context.Background()
	if s.Dialect == outbox.SQLite {
		e.add(t, msgs("k", 0, 2)...)
		return
	}
	first, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer first.Rollback()
	require.NoError(t, e.ob.Add(ctx, first, outbox.Message{Topic: "t", Key: "k", Payload: []byte("first")}))

	added := make(chan error, 1)
	second, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer second.Rollback()
	go func() {
		added <- e.ob.Add(ctx, second, outbox.Message{Topic: "t", Key: "k", Payload: []byte("second")},
			outbox.Message{Topic: "t", Key: "other", Payload: []byte("other")})
	}()
	select {
	case err := <-added:
		t.Fatalf("second Add did not wait for the first transaction: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// An unrelated key is not blocked.
	e.add(t, outbox.Message{Topic: "t", Key: "free", Payload: []byte("free")})
	require.NoError(t, first.Commit())
	require.NoError(t, <-added)
	require.NoError(t, second.Commit())

	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 4)
	require.NoError(t, err)
	var k []string
	for _, m := range got {
		if m.Key == "k" {
			k = append(k, string(m.Payload))
		}
	}
	assert.Equal(t, []string{"first", "second"}, k)
}

// testRelaysShare: three relays, 20 keys, a publisher that is slow and
// fails now and then: every message arrives, per-key order holds and no
// key is published by two relays at once.
func testRelaysShare(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	const keys, per = 20, 30
	rec := NewRecorder()
	var mu sync.Mutex
	calls := 0
	rec.SetHook(func(ctx context.Context, m outbox.Message) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n%17 == 0 {
			return errors.New("transient")
		}
		if n%5 == 0 {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	var relays []*outbox.Relay
	for range 3 {
		relays = append(relays, e.run(t, rec, outbox.RelayConfig{BatchSize: 25, Backoff: constantBackoff(10 * time.Millisecond)}))
	}
	want := map[string]int{}
	for round := range per / 10 {
		var batch []outbox.Message
		for k := range keys {
			key := fmt.Sprintf("key%02d", k)
			batch = append(batch, msgs(key, round*10, 10)...)
			want[key] = per
		}
		e.add(t, batch...)
	}
	rec.WaitLen(t, keys*per, 60*time.Second)
	rep := CheckOrder(payloads(rec.Messages()), want)
	assert.Empty(t, rep.Missing)
	assert.Empty(t, rep.Reordered)
	assert.Zero(t, rep.Duplicates, "no duplicates without crashes")
	assert.Empty(t, rec.Overlaps())
	busy := 0
	for _, r := range relays {
		if r.Metrics().Published > 0 {
			busy++
		}
	}
	assert.GreaterOrEqual(t, busy, 2, "the work is shared")
}

func testPoison(t *testing.T, s Suite) {
	obs := &observetest.Log{}
	e := newEnv(t, s, outbox.Config{Name: "orders", Observer: obs})
	poison := errors.New("broker refuses this one")
	rec := NewRecorder()
	rec.SetHook(func(ctx context.Context, m outbox.Message) error {
		if string(m.Payload) == "k/1" {
			return poison
		}
		return nil
	})
	e.add(t, msgs("k", 0, 3)...)
	e.add(t, msgs("other", 0, 2)...)
	r := e.run(t, rec, outbox.RelayConfig{MaxAttempts: 3, Backoff: constantBackoff(20 * time.Millisecond),
		Name: "orders-relay", Observer: obs})
	rec.WaitLen(t, 4, 20*time.Second)
	got := payloads(rec.Messages())
	assert.ElementsMatch(t, []string{"k/0", "k/2", "other/0", "other/1"}, got)
	assert.Less(t, indexOf(got, "k/0"), indexOf(got, "k/2"))

	ctx := context.Background()
	eventually(t, 10*time.Second, func() bool { return r.Metrics().DeadLettered == 1 }, "dead-lettered")
	dls, err := e.ob.DeadLetters(ctx, outbox.Filter{})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	dl := dls[0]
	assert.Equal(t, "k/1", string(dl.Payload))
	assert.Equal(t, outbox.ReasonMaxAttempts, dl.Reason)
	assert.Equal(t, 3, dl.Attempts)
	assert.Contains(t, dl.LastError, "broker refuses")
	assert.False(t, dl.DeadAt.Before(dl.CreatedAt))
	assert.EqualValues(t, 3, r.Metrics().Failed)
	st, err := e.ob.Stats(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, st.Dead)

	// The relay reported the dead letter, and its publish calls: the
	// messages the broker took, and the calls of only the poison message
	// (its second and third attempts) as failures.
	dead := obs.Of(resilience.EventDeadLetter)
	require.Len(t, dead, 1)
	assert.Equal(t, "outbox", dead[0].Policy)
	assert.Equal(t, "orders-relay", dead[0].Name)
	assert.Equal(t, outbox.ReasonMaxAttempts, dead[0].Reason)
	assert.Equal(t, 3, dead[0].Attempt)
	assert.ErrorIs(t, dead[0].Err, poison)
	eventually(t, 10*time.Second, func() bool { return published(obs) == 4 && r.Metrics().Published == 4 },
		"the four publications reported")
	failures := 0
	for _, ev := range obs.Of(resilience.EventPublish) {
		assert.Equal(t, "orders-relay", ev.Name)
		assert.Positive(t, ev.Duration)
		if ev.Err != nil {
			failures++
			assert.Zero(t, ev.Count)
			assert.ErrorIs(t, ev.Err, poison)
		}
	}
	assert.GreaterOrEqual(t, failures, 1)
	assert.Empty(t, obs.Of(resilience.EventRedrive))

	none, err := e.ob.DeadLetters(ctx, outbox.Filter{Topic: "nope"})
	require.NoError(t, err)
	assert.Empty(t, none)

	rec.SetHook(nil) // the broker was fixed
	n, err := e.ob.Redrive(ctx, outbox.Filter{IDs: []string{dl.ID}, Reason: outbox.ReasonMaxAttempts})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	redrives := obs.Of(resilience.EventRedrive)
	require.Len(t, redrives, 1)
	assert.Equal(t, resilience.Event{Kind: resilience.EventRedrive, Policy: "outbox", Name: "orders", Count: 1}, redrives[0])
	rec.WaitLen(t, 5, 20*time.Second)
	last := rec.Messages()[4]
	assert.Equal(t, "k/1", string(last.Payload))
	assert.Equal(t, dl.ID, last.ID)
	assert.Zero(t, last.Attempts, "attempts start again")
	dls, err = e.ob.DeadLetters(ctx, outbox.Filter{})
	require.NoError(t, err)
	assert.Empty(t, dls)
	n, err = e.ob.Redrive(ctx, outbox.Filter{})
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, obs.Of(resilience.EventRedrive), 1, "moving none is not reported")
	eventually(t, 10*time.Second, func() bool { return published(obs) == 5 }, "every publication reported")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func testRejected(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	rec := NewRecorder()
	rec.SetHook(func(ctx context.Context, m outbox.Message) error {
		if string(m.Payload) == "k/0" {
			return resilience.Permanent(errors.New("schema violation"))
		}
		return nil
	})
	e.add(t, msgs("k", 0, 2)...)
	r := e.run(t, rec, outbox.RelayConfig{})
	rec.WaitLen(t, 1, 20*time.Second)
	assert.Equal(t, []string{"k/1"}, payloads(rec.Messages()))
	eventually(t, 10*time.Second, func() bool { return r.Metrics().DeadLettered == 1 }, "dead-lettered")
	dls, err := e.ob.DeadLetters(context.Background(), outbox.Filter{Reason: outbox.ReasonRejected, Key: "k"})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, 1, dls[0].Attempts)
	assert.Contains(t, dls[0].LastError, "schema violation")
}

func testExpired(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	past := time.Now().Add(-time.Hour)
	e.add(t,
		outbox.Message{Topic: "t", Key: "k", Payload: []byte("stale"), ExpiresAt: past},
		outbox.Message{Topic: "t", Key: "k", Payload: []byte("fresh"), ExpiresAt: time.Now().Add(time.Hour)},
	)
	pub := outbox.NewMemoryPublisher()
	obs := &observetest.Log{}
	r := e.run(t, pub, outbox.RelayConfig{Observer: obs})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh"}, payloads(got))
	eventually(t, 10*time.Second, func() bool { return r.Metrics().Expired == 1 }, "expired")
	dead := obs.Of(resilience.EventDeadLetter)
	require.Len(t, dead, 1)
	assert.Equal(t, resilience.Event{Kind: resilience.EventDeadLetter, Policy: "outbox", Reason: outbox.ReasonExpired}, dead[0],
		"never attempted: no Err, no Attempt")
	dls, err := e.ob.DeadLetters(context.Background(), outbox.Filter{Reason: outbox.ReasonExpired})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, "stale", string(dls[0].Payload))
	assert.Zero(t, dls[0].Attempts)
	assert.WithinDuration(t, past, dls[0].ExpiresAt, time.Millisecond)
}

func testDelayed(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	at := time.Now().Add(2 * time.Second)
	e.add(t,
		outbox.Message{Topic: "t", Key: "k", Payload: []byte("later"), AvailableAt: at},
		outbox.Message{Topic: "t", Key: "k", Payload: []byte("behind")},
		outbox.Message{Topic: "t", Key: "free", Payload: []byte("now")},
	)
	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 1)
	require.NoError(t, err)
	// On a busy machine the relay may first look after at; then nothing is
	// held back and only the order within the key can be checked.
	if time.Now().Before(at) {
		assert.Equal(t, []string{"now"}, payloads(got), "a delayed message holds back its key only")
	} else {
		t.Logf("the relay first published after AvailableAt (a busy machine): hold-back not observable")
	}
	got, err = pub.Wait(waitCtx(t, 20*time.Second), 3)
	require.NoError(t, err)
	assert.False(t, time.Now().Before(at))
	var key []string
	for _, p := range payloads(got) {
		if p != "now" {
			key = append(key, p)
		}
	}
	assert.Equal(t, []string{"later", "behind"}, key, "the key keeps its order behind the delayed message")
	assert.ElementsMatch(t, []string{"now", "later", "behind"}, payloads(got))
}

func testRetention(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	e.add(t, msgs("k", 0, 3)...)
	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{Retention: time.Hour})
	_, err := pub.Wait(waitCtx(t, 20*time.Second), 3)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return e.backlog(t) == 0 }, "backlog drains")
	var kept int
	require.NoError(t, e.db.QueryRow("SELECT COUNT(*) FROM "+quote(s.Dialect, e.ob.Table())+" WHERE published_at IS NOT NULL").Scan(&kept))
	assert.Equal(t, 3, kept, "published rows are kept")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 3, pub.Len(), "kept rows are not published again")
}

func testStats(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	ctx := context.Background()
	st, err := e.ob.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.Stats{}, st)
	e.add(t, msgs("k", 0, 4)...)
	time.Sleep(50 * time.Millisecond)
	st, err = e.ob.Stats(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 4, st.Backlog)
	assert.GreaterOrEqual(t, st.Lag, 40*time.Millisecond)
	assert.Less(t, st.Lag, time.Minute)
}

// testShutdown: cancelling Run while a batch is being published lets it
// finish within ShutdownTimeout, and what could not be published is
// released for the next relay at once, not after the lease TTL.
func testShutdown(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	e.add(t, msgs("a", 0, 1)...)
	e.add(t, msgs("b", 0, 1)...)
	rec := NewRecorder()
	entered := make(chan struct{}, 2)
	rec.SetHook(func(ctx context.Context, m outbox.Message) error {
		if m.Key == "b" {
			entered <- struct{}{}
			<-ctx.Done() // a broker that never answers
			return ctx.Err()
		}
		return nil
	})
	r := outbox.NewRelay(e.ob, rec, outbox.RelayConfig{ShutdownTimeout: 200 * time.Millisecond, LeaseTTL: time.Minute, PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-entered
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "waited for the batch in flight")
	assert.Equal(t, []string{"a/0"}, payloads(rec.Messages()))
	assert.Zero(t, r.Metrics().Failed, "an interrupted publish is not a failed attempt")

	rec.SetHook(nil)
	e.run(t, rec, outbox.RelayConfig{LeaseTTL: time.Minute})
	rec.WaitLen(t, 2, 5*time.Second) // well before the one-minute lease
	assert.Equal(t, []string{"a/0", "b/0"}, payloads(rec.Messages()))
}

// constantBackoff returns a relay backoff that waits d after every failure.
func constantBackoff(d time.Duration) func(int) (time.Duration, bool) {
	return retry.New(retry.Config{InitialDelay: d, Multiplier: 1, MaxDelay: d, Jitter: retry.JitterNone}).Delay
}

// testExactInputs: what Add cannot store byte for byte it refuses with
// ErrInvalidMessage before touching the database, so the caller's
// transaction goes on; what it accepts is published exactly as given.
func testExactInputs(t *testing.T, s Suite) {
	e := newEnv(t, s, outbox.Config{})
	ctx := context.Background()
	bad := []struct {
		name string
		msg  outbox.Message
	}{
		{"NUL in key", outbox.Message{Topic: "t", Key: "a\x00b"}},
		{"invalid UTF-8 in key", outbox.Message{Topic: "t", Key: "a\xffb"}},
		{"NUL in topic", outbox.Message{Topic: "t\x00"}},
		{"invalid UTF-8 in topic", outbox.Message{Topic: "t\xc3"}},
		{"NUL in ID", outbox.Message{Topic: "t", ID: "id\x00"}},
		{"invalid UTF-8 in ID", outbox.Message{Topic: "t", ID: "\xed\xa0\x80"}}, // a UTF-16 surrogate
		{"invalid UTF-8 in a header value", outbox.Message{Topic: "t", Headers: map[string]string{"h": "\xff"}}},
		{"invalid UTF-8 in a header name", outbox.Message{Topic: "t", Headers: map[string]string{"\xff": "v"}}},
		{"empty header name", outbox.Message{Topic: "t", Headers: map[string]string{"": "v"}}},
		{"colon in a header name", outbox.Message{Topic: "t", Headers: map[string]string{"a:b": "v"}}},
		{"space in a header name", outbox.Message{Topic: "t", Headers: map[string]string{"a b": "v"}}},
		{"line break in a header value", outbox.Message{Topic: "t", Headers: map[string]string{"h": "a\r\nX-Injected: 1"}}},
		{"NUL in a header value", outbox.Message{Topic: "t", Headers: map[string]string{"h": "a\x00"}}},
		{"the relay's fence header", outbox.Message{Topic: "t", Headers: map[string]string{outbox.FenceHeader: "1"}}},
		{"the relay's fence header in lower case", outbox.Message{Topic: "t", Headers: map[string]string{"outbox-fence": "1"}}},
	}
	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // committed below
	for _, c := range bad {
		m := c.msg
		m.Payload = []byte("bad")
		err := e.ob.Add(ctx, tx, m)
		require.ErrorIs(t, err, outbox.ErrInvalidMessage, c.name)
	}
	// The transaction was not aborted by any of those.
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	good := outbox.Message{
		Topic: "topic.ünïcode", Key: "key \u2028 \"quoted\" \\ ✓", ID: "id-✓",
		Payload: payload,
		Headers: map[string]string{"Trace-Id": "\"q\" \\ \u2028 \u00e9 \U0001f600", "Empty": ""},
	}
	require.NoError(t, e.ob.Add(ctx, tx, good))
	require.NoError(t, tx.Commit())

	pub := outbox.NewMemoryPublisher()
	e.run(t, pub, outbox.RelayConfig{})
	got, err := pub.Wait(waitCtx(t, 20*time.Second), 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, good.Topic, got[0].Topic)
	assert.Equal(t, good.Key, got[0].Key)
	assert.Equal(t, good.ID, got[0].ID)
	assert.Equal(t, good.Payload, got[0].Payload)
	assert.Equal(t, good.Headers, withoutFence(got[0].Headers))
	fenceOf(t, got[0])
}

// fenceOf returns the fence the relay sent m with, which must be there.
func fenceOf(t testing.TB, m outbox.Message) uint64 {
	t.Helper()
	v, ok := m.Headers[outbox.FenceHeader]
	require.True(t, ok, "message %s has no %s header", m.ID, outbox.FenceHeader)
	f, err := outbox.ParseFence(v)
	require.NoError(t, err)
	require.NotZero(t, f)
	return f
}

// withoutFence returns h without the relay's FenceHeader (nil when that
// was all), as Add was given it.
func withoutFence(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if k != outbox.FenceHeader {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// testByteBudgets: Add refuses a message over Config.MaxMessageBytes, and
// a relay's batches stay within RelayConfig.BatchBytes plus one message,
// in order, however many messages BatchSize would allow.
func testByteBudgets(t *testing.T, s Suite) {
	const (
		msgBytes   = 100 << 10
		batchBytes = 250 << 10
	)
	e := newEnv(t, s, outbox.Config{MaxMessageBytes: msgBytes})
	ctx := context.Background()
	over := outbox.Message{Topic: "t", Key: "k", Payload: make([]byte, msgBytes-1), Headers: map[string]string{"ab": ""}}
	err := e.ob.Add(ctx, e.db, over)
	require.ErrorIs(t, err, outbox.ErrInvalidMessage)
	assert.Contains(t, err.Error(), fmt.Sprintf("%d bytes", msgBytes+1))

	var all []outbox.Message
	for i := range 30 {
		m := outbox.Message{Topic: "t", Key: fmt.Sprintf("k%d", i%3), Payload: make([]byte, msgBytes)}
		copy(m.Payload, fmt.Sprintf("k%d/%d", i%3, i/3))
		all = append(all, m)
	}
	e.add(t, all...)
	pub := &batchSizes{MemoryPublisher: outbox.NewMemoryPublisher()}
	e.run(t, pub, outbox.RelayConfig{BatchSize: 100, BatchBytes: batchBytes})
	got, err := pub.Wait(waitCtx(t, 60*time.Second), 30)
	require.NoError(t, err)
	order := CheckOrder(trimmed(got), map[string]int{"k0": 10, "k1": 10, "k2": 10})
	assert.Equal(t, OrderReport{Unique: 30}, order)
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, n := range pub.sizes {
		assert.LessOrEqual(t, n, batchBytes/msgBytes+1, "a batch of %d messages of %d bytes, over BatchBytes %d plus one", n, msgBytes, batchBytes)
	}
	assert.GreaterOrEqual(t, len(pub.sizes), 10)
}

// batchSizes records how many messages each Publish call was given.
type batchSizes struct {
	*outbox.MemoryPublisher
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(msgs))
	b.mu.Unlock()
	b.MemoryPublisher.Publish(ctx, msgs, errs)
}

// trimmed is the payloads of msgs up to their first NUL.
func trimmed(msgs []outbox.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		p := m.Payload
		if j := bytes.IndexByte(p, 0); j >= 0 {
			p = p[:j]
		}
		out[i] = string(p)
	}
	return out
}

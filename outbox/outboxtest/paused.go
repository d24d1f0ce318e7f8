package outboxtest

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// testPaused: two relay processes publish 4,000 messages over 200 keys to
// a broker that takes 100 ms per publish call, while one of them at a time
// is stopped with SIGSTOP for 2.5 to 4 s — longer than its 2 s lease — and
// then let go on. The stopped relay wakes up with a batch whose keys
// another relay has taken over and published further, and sends it
// anyway: the broker sees older messages of a key after newer ones. What
// the fence does about it is checked at the consumer: one that uses
// Inbox.ProcessFenced sees every message once, each key in order.
func testPaused(t *testing.T, s Suite) {
	if testing.Short() {
		t.Skip("paused-relay test skipped in -short mode")
	}
	if s.OwnDSN != nil {
		s.DSN = s.OwnDSN("paused")
	}
	e := newEnv(t, s, outbox.Config{})
	table := e.ob.Table()
	_, err := e.db.Exec(recTable(s.Dialect, table))
	require.NoError(t, err)

	const keys, per = 200, 20
	want := perKey(keys, per)
	began := time.Now()
	w := startWriter(e, keys, per, 15*time.Second/per) // messages flow through the pauses

	// Batches of 20 taking 100 ms each: the relays are busy publishing
	// for the whole test, so every pause stops one in the middle of a
	// batch.
	env := []string{envDelay + "=100ms", envBatch + "=20"}
	children := []*Process{startChild(t, s, table, env...), startChild(t, s, table, env...)}
	defer func() {
		for _, c := range children {
			c.Resume()
			if out := c.Kill(); t.Failed() {
				t.Log(out)
			}
		}
	}()
	const pauses = 6
	paused, done := -1, 0
	var next, resumed time.Time
	next = time.Now().Add(500 * time.Millisecond)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		time.Sleep(20 * time.Millisecond)
		now := time.Now()
		allWritten := w.written(t)
		switch {
		case paused >= 0 && now.After(next):
			children[paused].Resume()
			paused, resumed = -1, now
			next = now.Add(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		case paused < 0 && done < pauses && now.After(next):
			paused = rand.IntN(2)
			children[paused].Pause()
			done++
			next = now.Add(2500*time.Millisecond + time.Duration(rand.IntN(1500))*time.Millisecond)
		}
		// Done when everything was written and published, every pause
		// was served, and the last paused relay had a second to send
		// what it held.
		if allWritten && paused < 0 && done == pauses && now.Sub(resumed) > time.Second && e.backlog(t) == 0 {
			break
		}
		require.False(t, now.After(deadline), "backlog did not drain: %d left", e.backlog(t))
	}

	drained := time.Now()
	rows, err := e.db.Query("SELECT payload, COALESCE(fence, '') FROM " + quote(s.Dialect, table+"_rec") + " ORDER BY seq")
	require.NoError(t, err)
	type arrival struct{ payload, fence string }
	var got []arrival
	var raw []string
	for rows.Next() {
		var a arrival
		require.NoError(t, rows.Scan(&a.payload, &a.fence))
		got = append(got, a)
		raw = append(raw, a.payload)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	rawRep := CheckOrder(raw, want)
	assert.Zero(t, len(rawRep.Missing), "messages never published")
	// What a consumer without an Inbox sees: messages of a key older than
	// one it already had. With nothing but a high-water mark of fences per
	// key, it sees none of them.
	stale := staleArrivals(raw)
	var fenced []string
	marks := map[string]uint64{}
	for _, a := range got {
		f, err := outbox.ParseFence(a.fence)
		require.NoError(t, err, "fence of %s", a.payload)
		key := a.payload[:len("key000")]
		if f > marks[key] {
			marks[key] = f
			fenced = append(fenced, a.payload)
		}
	}
	assert.Zero(t, len(CheckOrder(fenced, want).Missing), "messages the fences dropped though they had not been seen before")
	assert.Zero(t, staleArrivals(fenced), "the fences drop every late copy")

	// The consumer: the arrivals, in the broker's order, through an Inbox,
	// whose effect is to remember the payload. (A hundred to a
	// transaction, to keep the test short on SQLite, which syncs every
	// commit; the marks and records see each other within one.)
	db, in, _ := newInbox(t, s)
	ctx := context.Background()
	var effects []string
	for start := 0; start < len(got); start += 100 {
		chunk := got[start:min(start+100, len(got))]
		for attempt := 0; ; attempt++ {
			var ran []string
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			for _, a := range chunk {
				fence, ferr := outbox.ParseFence(a.fence)
				require.NoError(t, ferr, "fence of %s", a.payload)
				if _, err = in.ProcessFenced(ctx, tx, a.payload, a.payload[:len("key000")], fence, func(context.Context, *sql.Tx) error {
					ran = append(ran, a.payload)
					return nil
				}); err != nil {
					break
				}
			}
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
			if err == nil {
				effects = append(effects, ran...)
				break
			}
			require.True(t, retryable(err) && attempt < 20, "inbox: %v", err)
			time.Sleep(10 * time.Millisecond)
		}
	}
	rep := CheckOrder(effects, want)
	assert.Zero(t, len(rep.Missing), "messages the consumer never processed")
	assert.Zero(t, len(rep.Reordered), "messages the consumer processed out of their key's order")
	assert.Zero(t, rep.Duplicates, "each message processed once")
	t.Logf("%s: %d pauses, %d arrivals of %d messages: %d repeats, %d of them after a newer message of their key; "+
		"with Inbox.ProcessFenced %d processed, %d out of order (relayed in %v, consumed in %v)",
		s.Dialect, done, len(got), keys*per, rawRep.Duplicates, stale, len(effects), len(rep.Reordered),
		drained.Sub(began).Round(time.Second), time.Since(drained).Round(time.Second))
}

// staleArrivals counts the payloads "key/i" that arrive after a "key/j"
// with j > i.
func staleArrivals(payloads []string) int {
	top := map[string]int{}
	n := 0
	for _, p := range payloads {
		i := strings.LastIndexByte(p, '/')
		idx, _ := strconv.Atoi(p[i+1:])
		if last, ok := top[p[:i]]; ok && idx < last {
			n++
			continue
		}
		top[p[:i]] = idx
	}
	return n
}

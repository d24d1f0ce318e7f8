package bulkhead_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// rejection is the EventReject of the bulkhead name, of key key.
func rejection(name, key, reason string, waited time.Duration, err error) resilience.Event {
	return resilience.Event{
		Kind: resilience.EventReject, Policy: "bulkhead", Name: name, Key: key,
		Reason: reason, Duration: waited, Err: err,
	}
}

// waited is the EventWait of the bulkhead name, of key key.
func waited(name, key string, d time.Duration) resilience.Event {
	return resilience.Event{Kind: resilience.EventWait, Policy: "bulkhead", Name: name, Key: key, Duration: d}
}

type ctxKey struct{}

// A full bulkhead reports the call it refuses on arrival, with the
// caller's context and the very error returned.
func TestEventsFull(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		b := bulkhead.New(1, bulkhead.Config{Name: "db", Observer: rec})
		release := occupy(b, t.Context(), 1)
		defer release()
		ctx := context.WithValue(t.Context(), ctxKey{}, "call")
		err := b.Do(ctx, noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{rejection("db", "", "full", 0, err)}, evs)
		assert.Same(t, err, evs[0].Err)
		assert.Equal(t, "call", ctxs[0].Value(ctxKey{}))
	})
}

// A call that queues and then gets a permit reports how long it waited;
// one that waits MaxWait in vain is refused with Reason "timeout".
func TestEventsWaitAndTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		b := bulkhead.New(1, bulkhead.Config{Name: "db", MaxWait: time.Second, Observer: rec})
		ctx := context.WithValue(t.Context(), ctxKey{}, "waiter")

		release := occupy(b, t.Context(), 1)
		ch := start(b, ctx, nil)
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		assert.Empty(t, rec.TakeEvents(), "still waiting")
		release()
		require.NoError(t, (<-ch).err)
		evs, ctxs := rec.Take()
		require.Equal(t, []resilience.Event{waited("db", "", 300*time.Millisecond)}, evs)
		assert.Equal(t, "waiter", ctxs[0].Value(ctxKey{}))

		require.NoError(t, b.Do(ctx, noop))
		assert.Empty(t, rec.TakeEvents(), "a call that finds a permit is no event")

		release = occupy(b, t.Context(), 1)
		defer release()
		err := b.Do(ctx, noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		require.Equal(t, []resilience.Event{rejection("db", "", "timeout", time.Second, err)}, rec.TakeEvents())
	})
}

// A queued call pushed out of a full queue is refused with Reason "shed"
// and the time it waited, whether by a more critical newcomer or, in LIFO
// order, by a newer one; a newcomer that cannot push anyone out is "full".
func TestEventsShed(t *testing.T) {
	t.Parallel()
	for _, order := range []bulkhead.Order{bulkhead.FIFO, bulkhead.LIFO} {
		t.Run(order.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				b := bulkhead.New(1, bulkhead.Config{MaxWait: time.Minute, MaxQueue: 1, Order: order, Observer: rec})
				release := occupy(b, t.Context(), 1)
				victim := start(b, withCrit(t.Context(), shed), nil)
				time.Sleep(2 * time.Second)
				newcomer := start(b, withCrit(t.Context(), crit), nil)
				shedErr := (<-victim).err
				require.ErrorIs(t, shedErr, bulkhead.ErrFull)
				require.Equal(t, []resilience.Event{rejection("", "", "shed", 2*time.Second, shedErr)}, rec.TakeEvents())

				time.Sleep(time.Second)
				refused := b.Do(withCrit(t.Context(), shed), noop)
				require.ErrorIs(t, refused, bulkhead.ErrFull)
				require.Equal(t, []resilience.Event{rejection("", "", "full", 0, refused)}, rec.TakeEvents(),
					"a sheddable call cannot push a critical one out")

				if order == bulkhead.LIFO {
					newer := start(b, withCrit(t.Context(), crit), nil)
					pushed := (<-newcomer).err
					require.ErrorIs(t, pushed, bulkhead.ErrFull)
					require.Equal(t, []resilience.Event{rejection("", "", "shed", time.Second, pushed)}, rec.TakeEvents())
					newcomer = newer
				}
				time.Sleep(time.Second)
				release()
				require.NoError(t, (<-newcomer).err)
				want := 2 * time.Second
				if order == bulkhead.LIFO {
					want = time.Second
				}
				require.Equal(t, []resilience.Event{waited("", "", want)}, rec.TakeEvents())
			})
		})
	}
}

// A Sheddable call that finds only the reserved permits left is refused
// with Reason "reserved".
func TestEventsReserved(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		b := bulkhead.New(2, bulkhead.Config{Reserve: 1, Observer: rec})
		release := occupy(b, withCrit(t.Context(), shed), 1)
		defer release()
		err := b.Do(withCrit(t.Context(), shed), noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		require.Equal(t, []resilience.Event{rejection("", "", "reserved", 0, err)}, rec.TakeEvents())
		require.NoError(t, b.Do(t.Context(), noop), "the reserved permit serves the others")
		assert.Empty(t, rec.TakeEvents())
	})
}

// An adaptive limit that changes is reported with the new limit, with the
// context of the call whose outcome moved it.
func TestEventsLimit(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	b := bulkhead.New(10, bulkhead.Config{Name: "db", Adaptive: bulkhead.AIMD{}, Observer: rec})
	ctx := context.WithValue(context.Background(), ctxKey{}, "dropped")
	err := fmt.Errorf("call: %w", context.DeadlineExceeded)
	require.ErrorIs(t, b.Do(ctx, func(context.Context) error { return err }), context.DeadlineExceeded)
	evs, ctxs := rec.Take()
	require.Equal(t, []resilience.Event{{Kind: resilience.EventLimit, Policy: "bulkhead", Name: "db", Count: 9}}, evs)
	assert.Equal(t, "dropped", ctxs[0].Value(ctxKey{}))
	assert.Equal(t, 9, b.Metrics().Limit)
}

// The events of a Group's bulkheads carry the key as held and the group's
// name; a call refused for too many keys is an EventReject of Reason
// "too_many_keys" with the refused key. A ConfigFor without an Observer
// reports to the group's.
func TestEventsGroupKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{
			Config:  bulkhead.Config{Name: "hosts", Observer: rec},
			MaxKeys: 2,
			ConfigFor: func(key string) (bulkhead.Config, bool) {
				return bulkhead.Config{}, key == "own"
			},
		})
		a := resilience.WithKey(t.Context(), "a.example")
		own := resilience.WithKey(t.Context(), "own")
		releaseA := occupy(g, a, 1)
		defer releaseA()
		releaseOwn := occupy(g, own, 1)
		defer releaseOwn()

		full := g.Do(a, noop)
		require.ErrorIs(t, full, bulkhead.ErrFull)
		ownFull := g.Do(own, noop)
		require.ErrorIs(t, ownFull, bulkhead.ErrFull)
		long := strings.Repeat("x", 200)
		tooMany := g.Do(resilience.WithKey(t.Context(), long), noop)
		require.ErrorIs(t, tooMany, bulkhead.ErrFull)
		evs := rec.TakeEvents()
		require.Len(t, evs, 3)
		assert.Equal(t, rejection("hosts", "a.example", "full", 0, full), evs[0])
		assert.Equal(t, rejection("hosts", "own", "full", 0, ownFull), evs[1], "ConfigFor's bulkhead: the group's Name and Observer")
		assert.True(t, strings.HasPrefix(evs[2].Key, "sha256:"), "the key as held: %s", evs[2].Key)
		evs[2].Key = ""
		assert.Equal(t, rejection("hosts", "", "too_many_keys", 0, tooMany), evs[2])
	})
}

// An Observer may call the bulkhead's and the group's methods: no lock is
// held while it runs, and the change it is told of has happened.
func TestEventsObserverCallsBack(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	var fixed, adaptive *bulkhead.Bulkhead
	var g *bulkhead.Group
	var seen []string
	rec.On = func(_ context.Context, e resilience.Event) {
		var m bulkhead.Metrics
		switch e.Name {
		case "fixed":
			m = fixed.Metrics()
			_ = fixed.Saturated()
		case "adaptive":
			m = adaptive.Metrics()
		default:
			m, _ = g.Metrics(e.Key)
			_ = g.Len()
			g.Range(func(string, bulkhead.Metrics) bool { return true })
		}
		seen = append(seen, fmt.Sprintf("%s %s: in flight %d, queued %d, limit %d, rejected %d",
			e.Name, e.Kind, m.InFlight, m.Queued, m.Limit, m.Rejected))
	}
	fixed = bulkhead.New(1, bulkhead.Config{Name: "fixed", MaxWait: time.Minute, MaxQueue: 1, Observer: rec})
	adaptive = bulkhead.New(2, bulkhead.Config{Name: "adaptive", Adaptive: bulkhead.AIMD{}, Observer: rec})
	g = bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: bulkhead.Config{Observer: rec}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = adaptive.Do(context.Background(), func(context.Context) error { return context.DeadlineExceeded })

		// Fill the fixed bulkhead, queue one call and refuse one.
		gate, in := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = fixed.Do(context.Background(), func(context.Context) error { close(in); <-gate; return nil })
		})
		<-in
		wg.Go(func() { _ = fixed.Do(context.Background(), noop) })
		for fixed.Metrics().Queued == 0 {
			time.Sleep(time.Millisecond)
		}
		_ = fixed.Do(context.Background(), noop)
		close(gate)
		wg.Wait()

		keyed := resilience.WithKey(context.Background(), "k")
		_ = g.Do(keyed, func(ctx context.Context) error { return g.Do(keyed, noop) })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: an Observer that calls back into the bulkhead blocks")
	}
	assert.Equal(t, []string{
		"adaptive limit: in flight 1, queued 0, limit 1, rejected 0", // after op, before its permit goes back
		"fixed rejected: in flight 1, queued 1, limit 1, rejected 1",
		"fixed wait: in flight 1, queued 0, limit 1, rejected 1",
		" rejected: in flight 1, queued 0, limit 1, rejected 1",
	}, seen)
}

// A typed nil Observer panics in New and NewGroup, not at the first event.
func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var nilLog *observetest.Log
	require.PanicsWithValue(t, "bulkhead: Observer is a nil *observetest.Log", func() {
		bulkhead.New(1, bulkhead.Config{Observer: nilLog})
	})
	require.PanicsWithValue(t, "bulkhead: Observer is a nil *observetest.Log", func() {
		bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: bulkhead.Config{Observer: nilLog}})
	})
}

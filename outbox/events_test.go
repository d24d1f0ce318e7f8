package outbox

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// slowPublisher takes d for each call, then publishes.
type slowPublisher struct {
	*MemoryPublisher
	d time.Duration
}

func (p slowPublisher) Publish(ctx context.Context, msgs []Message, errs []error) {
	time.Sleep(p.d)
	p.MemoryPublisher.Publish(ctx, msgs, errs)
}

// TestRelayPublishEvents: each publish call of a batch reports how many
// messages the broker took and how long the call took, with the relay's
// Name and the context of Run.
func TestRelayPublishEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 120)...)
		st.add(keyed("b", 90)...)
		st.add(keyed("c", 40)...)
		rec := &observetest.Log{}
		pub := slowPublisher{NewMemoryPublisher(), 200 * time.Millisecond}
		r := newRelay(st, pub, RelayConfig{BatchSize: 100, Name: "orders", Observer: rec})
		assert.Equal(t, "orders", r.Name())
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "run"))
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(time.Second) // three calls of 200 ms
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)

		require.Equal(t, 250, len(pub.Messages()))
		pubs := rec.Of(resilience.EventPublish)
		require.Len(t, pubs, 3)
		total := 0
		for _, e := range pubs {
			assert.Equal(t, "outbox", e.Policy)
			assert.Equal(t, "orders", e.Name)
			assert.Equal(t, 200*time.Millisecond, e.Duration, "how long the publisher took")
			assert.NoError(t, e.Err)
			total += e.Count
		}
		assert.Equal(t, []int{100, 100, 50}, []int{pubs[0].Count, pubs[1].Count, pubs[2].Count})
		assert.Equal(t, int(r.Metrics().Published), total)
		assert.Empty(t, rec.Of(resilience.EventDeadLetter))
		_, ctxs := rec.Take()
		for _, c := range ctxs {
			assert.Equal(t, "run", c.Value(traceKey{}), "the context of Run")
		}
	})
}

// TestRelayPublishEventFailures: a call that published nothing reports
// its first failure with Count 0; one that published some reports no
// error; a refusal of the breaker is a failure with its error.
func TestRelayPublishEventFailures(t *testing.T) {
	t.Parallel()
	nack := errors.New("nack")
	for _, tt := range []struct {
		name     string
		fail     func(Message) error
		refuse   bool
		wantN    int
		wantErr  error
		wantText string
	}{
		{"all published", nil, false, 3, nil, ""},
		{"one failed", func(m Message) error {
			if string(m.Payload) == "b/0" {
				return nack
			}
			return nil
		}, false, 2, nil, ""},
		{"all failed", func(Message) error { return nack }, false, 0, nack, ""},
		{"the first of a key failed, the rest not sent", func(m Message) error {
			if m.Key == "a" {
				return nack
			}
			return nil
		}, false, 1, nil, ""},
		{"refused", nil, true, 0, nil, "refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := newFakeStore()
				st.add(keyed("a", 2)...)
				st.add(keyed("b", 1)...)
				pub := NewMemoryPublisher()
				pub.SetFailure(tt.fail)
				rec := &observetest.Log{}
				c := RelayConfig{Observer: rec, Backoff: fixedBackoff(time.Hour)}
				if tt.refuse {
					c.Breaker = resilience.PolicyFunc(func(context.Context, func(context.Context) error) error {
						return refusal{after: time.Hour}
					})
				}
				r := newRelay(st, pub, c)
				stop := start(r)
				synctest.Wait()
				require.NoError(t, stop())
				pubs := rec.Of(resilience.EventPublish)
				require.Len(t, pubs, 1, "%v", pubs)
				e := pubs[0]
				assert.Equal(t, tt.wantN, e.Count)
				switch {
				case tt.wantErr != nil:
					assert.ErrorIs(t, e.Err, tt.wantErr)
					assert.Equal(t, slog.LevelWarn, e.Level())
				case tt.wantText != "":
					assert.EqualError(t, e.Err, tt.wantText)
				default:
					assert.NoError(t, e.Err)
				}
			})
		})
	}
}

// TestRelayDeadLetterEvents: each message the relay moves to the
// dead-letter table is reported once that is recorded, with its reason,
// its last failure and its attempts.
func TestRelayDeadLetterEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(Message{Topic: "t", Key: "p", Payload: []byte("poison")}, Message{Topic: "t", Key: "p", Payload: []byte("after")})
		st.add(Message{Topic: "t", Key: "r", Payload: []byte("rejected")})
		st.add(Message{Topic: "t", Key: "e", Payload: []byte("expired"), ExpiresAt: time.Now().Add(-time.Second)})
		tooLarge := errors.New("too large")
		invalid := resilience.Permanent(errors.New("invalid"))
		pub := NewMemoryPublisher()
		pub.SetFailure(func(m Message) error {
			switch string(m.Payload) {
			case "poison":
				return tooLarge
			case "rejected":
				return invalid
			}
			return nil
		})
		rec := &observetest.Log{}
		r := newRelay(st, pub, RelayConfig{MaxAttempts: 3, Backoff: fixedBackoff(time.Second), Name: "n", Observer: rec})
		stop := start(r)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())

		dead := map[string]resilience.Event{}
		for _, e := range rec.Of(resilience.EventDeadLetter) {
			assert.Equal(t, "outbox", e.Policy)
			assert.Equal(t, "n", e.Name)
			assert.Equal(t, slog.LevelWarn, e.Level())
			dead[e.Reason] = e
		}
		require.Len(t, dead, 3)
		assert.EqualValues(t, 3, r.Metrics().DeadLettered)
		assert.Equal(t, 3, dead[ReasonMaxAttempts].Attempt)
		assert.ErrorIs(t, dead[ReasonMaxAttempts].Err, tooLarge, "the error itself, not its text")
		assert.Equal(t, 1, dead[ReasonRejected].Attempt)
		assert.Equal(t, invalid, dead[ReasonRejected].Err)
		assert.Zero(t, dead[ReasonExpired].Attempt)
		assert.NoError(t, dead[ReasonExpired].Err, "never attempted")
		for _, d := range st.deadLetters() {
			assert.Contains(t, dead, d.reason, "every dead letter recorded was reported")
		}

		// The poison message's failed attempts were publish calls that
		// published nothing.
		failures := 0
		for _, e := range rec.Of(resilience.EventPublish) {
			if e.Err != nil {
				failures++
				assert.Zero(t, e.Count)
			}
		}
		assert.Positive(t, failures)
	})
}

// TestDeadLetterNotReportedUntilRecorded: while the outcomes of a batch
// cannot be recorded, its dead letters are not reported; they are once
// they are.
func TestDeadLetterNotReportedUntilRecorded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(Message{Topic: "t", Key: "r", Payload: []byte("rejected")})
		st.ackErr = []error{errors.New("db down"), errors.New("db down")}
		pub := NewMemoryPublisher()
		pub.SetFailure(func(Message) error { return resilience.Permanent(errors.New("invalid")) })
		rec := &observetest.Log{}
		r := newRelay(st, pub, RelayConfig{Observer: rec})
		stop := start(r)
		synctest.Wait()
		require.NoError(t, stop())
		require.Len(t, st.deadLetters(), 1)
		assert.Len(t, rec.Of(resilience.EventDeadLetter), 1, "reported once, when recorded")
	})
}

func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var rec *observetest.Log
	assert.PanicsWithValue(t, "outbox: RelayConfig.Observer is a nil *observetest.Log", func() {
		newRelay(newFakeStore(), NewMemoryPublisher(), RelayConfig{Observer: rec})
	})
	db := noDB()
	defer db.Close()
	assert.PanicsWithValue(t, "outbox: Config.Observer is a nil *observetest.Log", func() {
		New(db, Config{Dialect: SQLite, Observer: rec})
	})
	ob := New(db, Config{Dialect: SQLite, Name: "orders", Observer: &observetest.Log{}})
	assert.Equal(t, "orders", ob.Name())
}

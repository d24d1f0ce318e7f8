package rabbitmq_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/rabbitmq"
)

func TestPublishPersistentWithHeaders(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, conn, nil)
	p := newPublisher(t, conn, rabbitmq.Config{})
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := []outbox.Message{{ID: "id-1", Topic: q, Key: "order-1", Payload: []byte("created"),
		Headers: map[string]string{"Type": "OrderCreated"}, CreatedAt: created,
		ExpiresAt: time.Now().Add(time.Hour)}}
	errs := make([]error, 1)
	p.Publish(context.Background(), msgs, errs)
	allNil(t, errs)
	d := drain(t, conn, q, 1)[0]
	assert.Equal(t, "id-1", d.MessageId)
	assert.Equal(t, amqp.Persistent, d.DeliveryMode)
	assert.Equal(t, "created", string(d.Body))
	assert.Equal(t, "OrderCreated", d.Headers["Type"])
	assert.True(t, created.Equal(d.Timestamp))
	assert.NotEmpty(t, d.Expiration)
}

func TestOrderPerKeyUnderPipelining(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		keys, perKey, batch int
		maxInFlight         int
	}{
		{"many keys", 50, 20, 500, 0},
		{"window smaller than keys", 40, 10, 200, 4},
		{"one key", 1, 100, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := dial(t, nil)
			q := queue(t, conn, nil)
			p := newPublisher(t, conn, rabbitmq.Config{MaxInFlight: tt.maxInFlight})
			msgs := keyed(q, tt.keys, tt.perKey)
			for lo := 0; lo < len(msgs); lo += tt.batch {
				batch := msgs[lo:min(lo+tt.batch, len(msgs))]
				errs := make([]error, len(batch))
				p.Publish(context.Background(), batch, errs)
				allNil(t, errs)
			}
			checkOrder(t, msgs, drain(t, conn, q, len(msgs)))
		})
	}
}

func TestPartialFailure(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, conn, nil)
	limited := queue(t, conn, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	p := newPublisher(t, conn, rabbitmq.Config{})
	msgs := []outbox.Message{
		{ID: "a1", Topic: q, Key: "a"},
		{ID: "b1", Topic: limited, Key: "b"},
		{ID: "a2", Topic: q, Key: "a"},
		{ID: "b2", Topic: limited, Key: "b"}, // nacked: the queue is full
		{ID: "c1", Topic: unique("nowhere"), Key: "c"},
		{ID: "b3", Topic: q, Key: "b"},
		{ID: "c2", Topic: q, Key: "c"},
		{ID: "d1", Topic: q, Key: "d"},
	}
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	for _, i := range []int{0, 1, 2, 7} {
		require.NoError(t, errs[i], msgs[i].ID)
	}
	require.ErrorIs(t, errs[3], rabbitmq.ErrRejected)
	require.NotErrorIs(t, errs[3], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	var perr *rabbitmq.Error
	require.ErrorAs(t, errs[3], &perr)
	assert.Equal(t, "b2", perr.ID)
	assert.Equal(t, limited, perr.RoutingKey)
	require.ErrorIs(t, errs[4], rabbitmq.ErrUnroutable)
	require.NotErrorIs(t, errs[4], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	assert.Contains(t, errs[4].Error(), "NO_ROUTE")
	require.ErrorIs(t, errs[5], outbox.ErrNotSent)
	require.ErrorIs(t, errs[6], outbox.ErrNotSent)

	var ids []string
	for _, d := range drain(t, conn, q, 3) {
		ids = append(ids, d.MessageId)
	}
	assert.ElementsMatch(t, []string{"a1", "a2", "d1"}, ids)
	assert.Equal(t, 1, queueLen(t, conn, limited))
}

func TestAllowUnroutable(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	p := newPublisher(t, conn, rabbitmq.Config{AllowUnroutable: true})
	errs := make([]error, 1)
	p.Publish(context.Background(), []outbox.Message{{ID: "x", Topic: unique("nowhere")}}, errs)
	require.NoError(t, errs[0])
}

// held returns a publisher whose channel is open and whose confirms the
// gate then holds back.
func held(t *testing.T, cfg rabbitmq.Config) (*rabbitmq.Publisher, string) {
	g := newGate(t)
	conn := dial(t, g)
	q := queue(t, dial(t, nil), nil)
	p := newPublisher(t, conn, cfg)
	errs := make([]error, 1)
	p.Publish(context.Background(), []outbox.Message{{ID: "warm-up", Topic: q}}, errs)
	require.NoError(t, errs[0])
	g.hold()
	t.Cleanup(g.release) // before the connection closes
	return p, q
}

func TestAckTimeout(t *testing.T) {
	t.Parallel()
	p, q := held(t, rabbitmq.Config{AckTimeout: 100 * time.Millisecond})
	msgs := keyed(q, 2, 2)
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	for i, err := range errs {
		if i < 2 {
			require.ErrorIs(t, err, rabbitmq.ErrTimeout)
			require.ErrorIs(t, err, outbox.ErrUnavailable, "not the message's fault: no attempt counted")
		} else {
			require.ErrorIs(t, err, outbox.ErrNotSent)
		}
	}
}

func TestContextBoundsTheWait(t *testing.T) {
	t.Parallel()
	p, q := held(t, rabbitmq.Config{AckTimeout: time.Minute, MaxInFlight: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	msgs := keyed(q, 3, 2) // 3 heads, 2 slots: one head never sent
	errs := make([]error, len(msgs))
	start := time.Now()
	p.Publish(ctx, msgs, errs)
	assert.Less(t, time.Since(start), 30*time.Second)
	var inFlight, unsent int
	for _, err := range errs {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		if errors.Is(err, outbox.ErrNotSent) {
			unsent++
		} else {
			inFlight++
		}
	}
	assert.Equal(t, 2, inFlight)
	assert.Equal(t, 4, unsent)

	// The abandoned messages gave their slots back.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Publish(ctx, msgs[:2], errs[:2])
	for _, err := range errs[:2] {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, outbox.ErrNotSent, "sent: slots were free")
	}
}

func TestContextCancelledBeforePublish(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, conn, nil)
	p := newPublisher(t, conn, rabbitmq.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := keyed(q, 2, 2)
	errs := make([]error, len(msgs))
	p.Publish(ctx, msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, outbox.ErrNotSent)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, queueLen(t, conn, q))
}

func TestConnectionClosedWithoutDial(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, dial(t, nil), nil)
	p := newPublisher(t, conn, rabbitmq.Config{})
	require.NoError(t, conn.Close())
	msgs := keyed(q, 2, 2)
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	for i, err := range errs {
		if i < 2 {
			require.ErrorIs(t, err, rabbitmq.ErrUnavailable)
			require.ErrorIs(t, err, outbox.ErrUnavailable, "not the message's fault: no attempt counted")
			require.ErrorIs(t, err, amqp.ErrClosed)
		} else {
			require.ErrorIs(t, err, outbox.ErrNotSent)
		}
	}
}

// TestConnectionLoss runs a small relay loop while the test cuts the
// connection repeatedly: the publisher dials a new one, nothing is lost,
// per-key order holds.
func TestConnectionLoss(t *testing.T) {
	t.Parallel()
	g := newGate(t)
	url := "amqp://guest:guest@" + g.addr() + "/"
	if u := testenv.Require(t, testenv.RabbitMQ); u != testenv.RabbitMQ.Default {
		t.Skip("connection loss test uses the default RabbitMQ credentials")
	}
	conn := dial(t, g)
	q := queue(t, dial(t, nil), nil)
	var dials int
	p := newPublisher(t, conn, rabbitmq.Config{AckTimeout: time.Second, Dial: func(context.Context) (*amqp.Connection, error) {
		dials++
		return amqp.Dial(url)
	}})
	msgs := keyed(q, 10, 50)
	pending := append([]outbox.Message(nil), msgs...)
	delivered, cuts := 0, 0
	failures := map[error]int{}
	deadline := time.Now().Add(time.Minute)
	for len(pending) > 0 {
		require.True(t, time.Now().Before(deadline), "backlog did not drain: %d left", len(pending))
		if cuts < 3 && delivered >= (cuts+1)*len(msgs)/4 {
			cuts++
			if cuts == 2 {
				// Cut while messages wait for their confirms.
				g.hold()
				time.AfterFunc(20*time.Millisecond, func() { g.cut(); g.release() })
			} else {
				g.cut()
			}
		}
		batch := pending[:min(len(pending), 50)]
		errs := make([]error, len(batch))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.Publish(ctx, batch, errs)
		cancel()
		var left []outbox.Message
		for i, err := range errs {
			if err == nil {
				delivered++
				continue
			}
			left = append(left, batch[i])
			for _, kind := range []error{rabbitmq.ErrUnavailable, rabbitmq.ErrTimeout, outbox.ErrNotSent} {
				if errors.Is(err, kind) {
					failures[kind]++
					break
				}
			}
		}
		pending = append(left, pending[len(batch):]...)
		if len(left) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("dials %d, failures %v", dials, failures)
	assert.Equal(t, 3, dials, "one new connection per cut")
	n := queueLen(t, dial(t, nil), q)
	checkOrder(t, msgs, drain(t, dial(t, nil), q, n))
}

func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, conn, nil)
	p := newPublisher(t, conn, rabbitmq.Config{MaxInFlight: 8})
	const workers = 5
	all := make([][]outbox.Message, workers)
	var wg sync.WaitGroup
	for w := range workers {
		all[w] = keyed(q, 8, 10)
		for i := range all[w] {
			all[w][i].Key = string(rune('a'+w)) + all[w][i].Key
			all[w][i].ID = string(rune('a'+w)) + all[w][i].ID
		}
		wg.Go(func() {
			msgs := all[w]
			for lo := 0; lo < len(msgs); lo += 20 {
				batch := msgs[lo : lo+20]
				errs := make([]error, len(batch))
				p.Publish(context.Background(), batch, errs)
				for _, err := range errs {
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	var want []outbox.Message
	for _, msgs := range all {
		want = append(want, msgs...)
	}
	checkOrder(t, want, drain(t, conn, q, len(want)))
}

func TestClose(t *testing.T) {
	t.Parallel()
	conn := dial(t, nil)
	q := queue(t, conn, nil)
	p := rabbitmq.New(conn, rabbitmq.Config{})
	msgs := keyed(q, 2, 1)
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	allNil(t, errs)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	p.Publish(context.Background(), msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, rabbitmq.ErrClosed)
		require.ErrorIs(t, err, outbox.ErrNotSent)
	}
	assert.False(t, conn.IsClosed(), "the caller's connection stays open")
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	conn := &amqp.Connection{}
	tests := []struct {
		name string
		f    func()
		msg  string
	}{
		{"nil conn", func() { rabbitmq.New(nil, rabbitmq.Config{}) }, "outbox/rabbitmq: nil connection"},
		{"negative MaxInFlight", func() { rabbitmq.New(conn, rabbitmq.Config{MaxInFlight: -1}) }, "outbox/rabbitmq: negative MaxInFlight"},
		{"negative AckTimeout", func() { rabbitmq.New(conn, rabbitmq.Config{AckTimeout: -1}) }, "outbox/rabbitmq: negative AckTimeout"},
		{"len mismatch", func() {
			rabbitmq.New(conn, rabbitmq.Config{}).Publish(context.Background(), make([]outbox.Message, 1), nil)
		}, "outbox/rabbitmq: len(errs) != len(msgs)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.msg, tt.f)
		})
	}
	rabbitmq.New(conn, rabbitmq.Config{}).Publish(context.Background(), nil, nil)
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	err := &rabbitmq.Error{ID: "m1", RoutingKey: "orders", Err: errors.New("boom")}
	assert.Equal(t, "outbox/rabbitmq: message m1 to orders: publish failed: boom", err.Error())
}

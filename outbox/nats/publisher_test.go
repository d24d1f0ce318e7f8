package nats_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
)

func TestPublishStoresWithHeaders(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, nil)
	p := newPublisher(t, nc, nats.Config{})
	msgs := []outbox.Message{
		{ID: "id-1", Topic: stream + ".a", Key: "k", Payload: []byte("one"), Headers: map[string]string{"Type": "OrderCreated", "Trace": "t1"}},
		{ID: "id-2", Topic: stream + ".b", Key: "k", Payload: []byte("two")},
		{ID: "id-3", Topic: stream + ".a", Key: "other", Payload: nil},
	}
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	allNil(t, errs)

	got := readStream(t, nc, stream)
	require.Len(t, got, 3)
	byID := map[string]jetstream.Msg{}
	for _, m := range got {
		byID[m.Headers().Get(jetstream.MsgIDHeader)] = m
	}
	for _, want := range msgs {
		m := byID[want.ID]
		require.NotNil(t, m, want.ID)
		assert.Equal(t, want.Topic, m.Subject())
		assert.Equal(t, string(want.Payload), string(m.Data()))
		for k, v := range want.Headers {
			assert.Equal(t, v, m.Headers().Get(k))
		}
	}
}

func TestSubjectAndExpectedStream(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, nil)
	other := testStream(t, nc, nil)
	p := newPublisher(t, nc, nats.Config{
		Stream:  stream,
		Subject: func(m *outbox.Message) string { return strings.ReplaceAll(m.Topic, "/", ".") },
	})
	msgs := []outbox.Message{
		{ID: "ok", Topic: stream + "/orders/created", Key: "a"},
		{ID: "wrong-stream", Topic: other + "/orders", Key: "b"},
	}
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], nats.ErrRejected)
	require.NotErrorIs(t, errs[1], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	var apiErr *jetstream.APIError
	require.ErrorAs(t, errs[1], &apiErr)
	got := readStream(t, nc, stream)
	require.Len(t, got, 1)
	assert.Equal(t, stream+".orders.created", got[0].Subject())
	assert.Zero(t, streamMsgs(t, nc, other))
}

func TestOrderPerKeyUnderPipelining(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		keys, perKey      int
		batch, maxInFlite int
	}{
		{"many keys", 100, 30, 1000, 256},
		{"few keys", 3, 300, 250, 1024},
		{"window smaller than keys", 64, 20, 500, 8},
		{"one key", 1, 200, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nc := sharedConn(t)
			stream := testStream(t, nc, nil)
			p := newPublisher(t, nc, nats.Config{MaxInFlight: tt.maxInFlite})
			msgs := keyed(stream, tt.keys, tt.perKey)
			for lo := 0; lo < len(msgs); lo += tt.batch {
				batch := msgs[lo:min(lo+tt.batch, len(msgs))]
				errs := make([]error, len(batch))
				p.Publish(context.Background(), batch, errs)
				allNil(t, errs)
			}
			got := readStream(t, nc, stream)
			require.Len(t, got, len(msgs))
			checkOrder(t, msgs, got)
		})
	}
}

func TestRepublishIsDeduplicated(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, func(c *jetstream.StreamConfig) { c.Duplicates = time.Minute })
	p := newPublisher(t, nc, nats.Config{})
	msgs := keyed(stream, 5, 4)
	for range 3 { // a relay that crashed twice before recording the publication
		errs := make([]error, len(msgs))
		p.Publish(context.Background(), msgs, errs)
		allNil(t, errs)
	}
	require.EqualValues(t, len(msgs), streamMsgs(t, nc, stream))
	checkOrder(t, msgs, readStream(t, nc, stream))
}

func TestPartialFailure(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, func(c *jetstream.StreamConfig) { c.MaxMsgSize = 512 })
	p := newPublisher(t, nc, nats.Config{})
	big := make([]byte, 4096)
	msgs := []outbox.Message{
		{ID: "a1", Topic: stream + ".x", Key: "a"},
		{ID: "b1", Topic: stream + ".x", Key: "b", Payload: big}, // nacked: too large for the stream
		{ID: "a2", Topic: stream + ".x", Key: "a"},
		{ID: "b2", Topic: stream + ".x", Key: "b"},               // after a failure of its key: not sent
		{ID: "c1", Topic: "nostream_" + stream + ".x", Key: "c"}, // no stream captures it
		{ID: "c2", Topic: stream + ".x", Key: "c"},
		{ID: "b3", Topic: stream + ".x", Key: "b"},
		{ID: "d1", Topic: stream + ".x", Key: "d"},
	}
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)

	for _, i := range []int{0, 2, 7} {
		require.NoError(t, errs[i], msgs[i].ID)
	}
	require.ErrorIs(t, errs[1], nats.ErrRejected)
	require.NotErrorIs(t, errs[1], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	var apiErr *jetstream.APIError
	require.ErrorAs(t, errs[1], &apiErr)
	var perr *nats.Error
	require.ErrorAs(t, errs[1], &perr)
	assert.Equal(t, "b1", perr.ID)
	assert.Equal(t, stream+".x", perr.Subject)
	assert.NotErrorIs(t, errs[1], outbox.ErrNotSent)

	require.ErrorIs(t, errs[4], nats.ErrRejected)
	require.NotErrorIs(t, errs[4], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	require.ErrorIs(t, errs[4], jetstream.ErrNoStreamResponse)
	for _, i := range []int{3, 5, 6} {
		require.ErrorIs(t, errs[i], outbox.ErrNotSent, msgs[i].ID)
	}

	got := readStream(t, nc, stream)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
	}
	assert.ElementsMatch(t, []string{"a1", "a2", "d1"}, ids)
}

func TestContextCancelledBeforePublish(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, nil)
	p := newPublisher(t, nc, nats.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := keyed(stream, 3, 2)
	errs := make([]error, len(msgs))
	p.Publish(ctx, msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, outbox.ErrNotSent)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, streamMsgs(t, nc, stream))
}

// While the server is down, messages in the client's reconnect buffer get no
// PubAck: the context bounds the wait, and AckTimeout bounds it without one.
func TestBrokerDownBoundedWait(t *testing.T) {
	t.Parallel()
	ps := startPrivate(t)
	nc := ps.connect()
	stream := privateStream(t, nc)
	ps.stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)

	t.Run("fail fast by default", func(t *testing.T) {
		p := newPublisher(t, nc, nats.Config{})
		msgs := keyed(stream, 2, 2)
		errs := make([]error, len(msgs))
		p.Publish(context.Background(), msgs, errs)
		for i, err := range errs {
			if msgs[i].ID[len(msgs[i].ID)-1] == '0' {
				require.ErrorIs(t, err, nats.ErrUnavailable)
				require.ErrorIs(t, err, outbox.ErrUnavailable, "not the message's fault: no attempt counted")
				require.ErrorIs(t, err, natsgo.ErrDisconnected)
			} else {
				require.ErrorIs(t, err, outbox.ErrNotSent)
			}
		}
	})
	t.Run("context bounds the wait", func(t *testing.T) {
		p := newPublisher(t, nc, nats.Config{PublishWhileReconnecting: true, AckTimeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		msgs := keyed(stream, 2, 2)
		errs := make([]error, len(msgs))
		start := time.Now()
		p.Publish(ctx, msgs, errs)
		assert.Less(t, time.Since(start), 30*time.Second)
		for i, err := range errs {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			if msgs[i].ID[len(msgs[i].ID)-1] == '0' {
				require.NotErrorIs(t, err, outbox.ErrNotSent, "in flight: outcome unknown")
				var perr *nats.Error
				require.ErrorAs(t, err, &perr)
			} else {
				require.ErrorIs(t, err, outbox.ErrNotSent)
			}
		}
	})
	t.Run("abandoned messages free their slots", func(t *testing.T) {
		p := newPublisher(t, nc, nats.Config{PublishWhileReconnecting: true, AckTimeout: time.Minute, MaxInFlight: 2})
		msgs := keyed(stream, 2, 1)
		errs := make([]error, len(msgs))
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			p.Publish(ctx, msgs, errs)
			cancel()
			for _, err := range errs {
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.NotErrorIs(t, err, outbox.ErrNotSent, "sent: the slots were free")
			}
		}
	})
	t.Run("ack timeout", func(t *testing.T) {
		p := newPublisher(t, nc, nats.Config{PublishWhileReconnecting: true, AckTimeout: 50 * time.Millisecond})
		msgs := keyed(stream, 2, 1)
		errs := make([]error, len(msgs))
		p.Publish(context.Background(), msgs, errs)
		for _, err := range errs {
			require.ErrorIs(t, err, nats.ErrTimeout)
			require.ErrorIs(t, err, outbox.ErrUnavailable, "not the message's fault: no attempt counted")
			require.ErrorIs(t, err, jetstream.ErrAsyncPublishTimeout)
		}
	})
}

func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, nil)
	p := newPublisher(t, nc, nats.Config{MaxInFlight: 8})
	const workers = 6
	all := make([][]outbox.Message, workers)
	var wg sync.WaitGroup
	for w := range workers {
		all[w] = keyed(stream+".w"+string(rune('a'+w)), 10, 20)
		for i := range all[w] {
			all[w][i].Key = string(rune('a'+w)) + all[w][i].Key // keys of one worker only
		}
		wg.Go(func() {
			msgs := all[w]
			for lo := 0; lo < len(msgs); lo += 50 {
				batch := msgs[lo : lo+50]
				errs := make([]error, len(batch))
				p.Publish(context.Background(), batch, errs)
				for _, err := range errs {
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	got := readStream(t, nc, stream)
	var want []outbox.Message
	for _, msgs := range all {
		want = append(want, msgs...)
	}
	require.Len(t, got, len(want))
	checkOrder(t, want, got)
}

func TestClose(t *testing.T) {
	t.Parallel()
	nc := sharedConn(t)
	stream := testStream(t, nc, nil)
	p := nats.New(nc, nats.Config{})
	msgs := keyed(stream, 2, 2)
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	allNil(t, errs)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	p.Publish(context.Background(), msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, nats.ErrClosed)
		require.ErrorIs(t, err, outbox.ErrNotSent)
	}
	require.EqualValues(t, len(msgs), streamMsgs(t, nc, stream))
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	nc := &natsgo.Conn{}
	tests := []struct {
		name string
		f    func()
		msg  string
	}{
		{"nil conn", func() { nats.New(nil, nats.Config{}) }, "outbox/nats: nil connection"},
		{"negative MaxInFlight", func() { nats.New(nc, nats.Config{MaxInFlight: -1}) }, "outbox/nats: negative MaxInFlight"},
		{"negative AckTimeout", func() { nats.New(nc, nats.Config{AckTimeout: -time.Second}) }, "outbox/nats: negative AckTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.msg, tt.f)
		})
	}
}

func TestPublishLengthMismatchPanics(t *testing.T) {
	t.Parallel()
	p := nats.New(&natsgo.Conn{}, nats.Config{})
	require.PanicsWithValue(t, "outbox/nats: len(errs) != len(msgs)", func() {
		p.Publish(context.Background(), make([]outbox.Message, 2), make([]error, 1))
	})
	p.Publish(context.Background(), nil, nil) // nothing to do
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	err := &nats.Error{ID: "m1", Subject: "orders", Err: errors.New("boom")}
	assert.Equal(t, "outbox/nats: message m1 to orders: publish failed: boom", err.Error())
	assert.NotErrorIs(t, err, nats.ErrRejected)
}

package kafka_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/kafka"
)

func TestPublishRecords(t *testing.T) {
	t.Parallel()
	c := cluster(t, 4, []string{"orders", "tenant-a.orders"})
	tests := []struct {
		name      string
		cfg       kafka.Config
		topic     string
		idHeader  string
		wantTopic string
	}{
		{"defaults", kafka.Config{}, "orders", "Message-Id", "orders"},
		{"topic func and id header", kafka.Config{
			Topic:    func(m *outbox.Message) string { return m.Headers["Tenant"] + "." + m.Topic },
			IDHeader: "Outbox-Id",
		}, "orders", "Outbox-Id", "tenant-a.orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := kafka.New(client(t, c), tt.cfg)
			id := "id-" + strings.ReplaceAll(tt.name, " ", "-")
			msgs := []outbox.Message{{ID: id, Topic: tt.topic, Key: "order-7", Payload: []byte("created"),
				Headers: map[string]string{"Tenant": "tenant-a", "Type": "OrderCreated"}}}
			errs := make([]error, 1)
			p.Publish(context.Background(), msgs, errs)
			allNil(t, errs)
			for _, r := range consume(t, c, 1, tt.wantTopic) {
				if header(r, tt.idHeader) != id {
					continue
				}
				assert.Equal(t, "order-7", string(r.Key))
				assert.Equal(t, "created", string(r.Value))
				assert.Equal(t, "OrderCreated", header(r, "Type"))
				return
			}
			t.Fatal("record not found")
		})
	}
}

func TestOrderPerKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		keys, perKey, batch int
	}{
		{"many keys", 50, 40, 500},
		{"one key", 1, 300, 100},
		{"empty key", 1, 50, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := cluster(t, 8, []string{"events"})
			p := kafka.New(client(t, c), kafka.Config{})
			msgs := keyed("events", tt.keys, tt.perKey)
			if tt.name == "empty key" {
				for i := range msgs {
					msgs[i].Key = ""
				}
			}
			for lo := 0; lo < len(msgs); lo += tt.batch {
				batch := msgs[lo:min(lo+tt.batch, len(msgs))]
				errs := make([]error, len(batch))
				p.Publish(context.Background(), batch, errs)
				allNil(t, errs)
			}
			checkOrder(t, msgs, consume(t, c, len(msgs), "events"))
		})
	}
}

func TestPartialFailure(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, []string{"orders", "big"}, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2048"}))
	p := kafka.New(client(t, c, kgo.UnknownTopicRetries(1)), kafka.Config{})
	msgs := []outbox.Message{
		{ID: "a1", Topic: "orders", Key: "a"},
		{ID: "b1", Topic: "big", Key: "b", Payload: noise(8192)}, // too large
		{ID: "a2", Topic: "orders", Key: "a"},
		{ID: "c1", Topic: "missing", Key: "c"}, // no such topic
		{ID: "d1", Topic: "orders", Key: "d"},
	}
	errs := make([]error, len(msgs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.Publish(ctx, msgs, errs)
	for _, i := range []int{0, 2, 4} {
		require.NoError(t, errs[i], msgs[i].ID)
	}
	require.ErrorIs(t, errs[1], kafka.ErrRejected)
	require.NotErrorIs(t, errs[1], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	require.ErrorIs(t, errs[1], kerr.MessageTooLarge)
	var perr *kafka.Error
	require.ErrorAs(t, errs[1], &perr)
	assert.Equal(t, "b1", perr.ID)
	assert.Equal(t, "big", perr.Topic)
	require.ErrorIs(t, errs[3], kafka.ErrRejected)
	require.NotErrorIs(t, errs[3], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	require.ErrorIs(t, errs[3], kerr.UnknownTopicOrPartition)

	var ids []string
	for _, r := range consume(t, c, 3, "orders") {
		ids = append(ids, header(r, "Message-Id"))
	}
	assert.Equal(t, []string{"a1", "a2", "d1"}, ids)
}

// noise returns n incompressible bytes (the client compresses batches).
func noise(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// A message that fails takes the later messages of its key down with it,
// and those report ErrNotSent.
func TestLaterMessagesOfFailedKey(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, []string{"big"}, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2048"}))
	p := kafka.New(client(t, c), kafka.Config{})
	msgs := []outbox.Message{
		{ID: "b1", Topic: "big", Key: "b", Payload: noise(8192)},
		{ID: "b2", Topic: "big", Key: "b"},
		{ID: "b3", Topic: "big", Key: "b"},
	}
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	require.ErrorIs(t, errs[0], kafka.ErrRejected)
	require.NotErrorIs(t, errs[0], outbox.ErrUnavailable, "the message's fault: an attempt counted")
	require.NotErrorIs(t, errs[0], outbox.ErrNotSent)
	for _, err := range errs[1:] {
		require.ErrorIs(t, err, outbox.ErrNotSent)
		require.ErrorIs(t, err, kerr.MessageTooLarge)
	}
}

// stallProduce makes the cluster hold every produce request until the
// returned function is called.
func stallProduce(c *kfake.Cluster) (release func()) {
	ch := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func TestContextBoundsTheWait(t *testing.T) {
	t.Parallel()
	c := cluster(t, 2, []string{"orders"})
	release := stallProduce(c)
	t.Cleanup(release) // before the cluster closes
	p := kafka.New(client(t, c), kafka.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	msgs := keyed("orders", 3, 2)
	errs := make([]error, len(msgs))
	start := time.Now()
	p.Publish(ctx, msgs, errs)
	assert.Less(t, time.Since(start), 10*time.Second)
	for _, err := range errs {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, kafka.ErrTimeout)
	}
}

func TestContextCancelledBeforePublish(t *testing.T) {
	t.Parallel()
	c := cluster(t, 2, []string{"orders"})
	p := kafka.New(client(t, c), kafka.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := keyed("orders", 2, 2)
	errs := make([]error, len(msgs))
	p.Publish(ctx, msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, context.Canceled)
	}
}

func TestRecordDeliveryTimeout(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, []string{"orders"})
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	// Metadata never answers: records wait in the client until they time out.
	c.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	p := kafka.New(client(t, c, kgo.RecordDeliveryTimeout(time.Second)), kafka.Config{})
	msgs := keyed("orders", 1, 2)
	errs := make([]error, len(msgs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.Publish(ctx, msgs, errs)
	require.ErrorIs(t, errs[0], kafka.ErrTimeout)
	require.ErrorIs(t, errs[0], outbox.ErrUnavailable, "not the message's fault: no attempt counted")
	require.ErrorIs(t, errs[0], kgo.ErrRecordTimeout)
	require.ErrorIs(t, errs[1], outbox.ErrNotSent)
}

func TestClientClosed(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, []string{"orders"})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	p := kafka.New(cl, kafka.Config{})
	cl.Close()
	msgs := keyed("orders", 2, 1)
	errs := make([]error, len(msgs))
	p.Publish(context.Background(), msgs, errs)
	for _, err := range errs {
		require.ErrorIs(t, err, kafka.ErrUnavailable)
		require.ErrorIs(t, err, outbox.ErrUnavailable, "not the message's fault: no attempt counted")
		require.ErrorIs(t, err, kgo.ErrClientClosed)
	}
}

func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	c := cluster(t, 4, []string{"events"})
	p := kafka.New(client(t, c), kafka.Config{})
	const workers = 6
	all := make([][]outbox.Message, workers)
	var wg sync.WaitGroup
	for w := range workers {
		all[w] = keyed("events", 10, 20)
		for i := range all[w] {
			all[w][i].Key = string(rune('a'+w)) + all[w][i].Key
			all[w][i].ID = string(rune('a'+w)) + all[w][i].ID
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
	var want []outbox.Message
	for _, msgs := range all {
		want = append(want, msgs...)
	}
	checkOrder(t, want, consume(t, c, len(want), "events"))
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, []string{"orders"})
	tests := []struct {
		name string
		opts []kgo.Opt
		msg  string
	}{
		{"leader acks", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()},
			"outbox/kafka: the client must require acks from all in-sync replicas (kgo.RequiredAcks(kgo.AllISRAcks()))"},
		{"no idempotency", []kgo.Opt{kgo.DisableIdempotentWrite()},
			"outbox/kafka: the client must keep idempotent writes (no kgo.DisableIdempotentWrite)"},
		{"transactional", []kgo.Opt{kgo.TransactionalID("tx")}, "outbox/kafka: transactional clients are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := client(t, c, tt.opts...)
			require.PanicsWithValue(t, tt.msg, func() { kafka.New(cl, kafka.Config{}) })
		})
	}
	require.PanicsWithValue(t, "outbox/kafka: nil client", func() { kafka.New(nil, kafka.Config{}) })
	p := kafka.New(client(t, c), kafka.Config{})
	require.PanicsWithValue(t, "outbox/kafka: len(errs) != len(msgs)", func() {
		p.Publish(context.Background(), make([]outbox.Message, 1), nil)
	})
	p.Publish(context.Background(), nil, nil)
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	err := &kafka.Error{ID: "m1", Topic: "orders", Err: errors.New("boom")}
	assert.Equal(t, "outbox/kafka: message m1 to orders: publish failed: boom", err.Error())
}

package outboxbench_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	natsgo "github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

// wmOutbox is watermill's outbox on PostgreSQL: the SQL Pub/Sub of
// watermill-sql (default PostgreSQL schema and offsets adapters) behind the
// forwarder component, which wraps each message in an envelope naming its
// destination topic.
type wmOutbox struct {
	db     *sql.DB
	topic  string // the forwarder topic, which names the SQL tables
	schema wmsql.DefaultPostgreSQLSchema
}

// newWMOutbox creates watermill's tables for a fresh forwarder topic,
// dropped with the test. batch is the subscriber's SubscribeBatchSize.
func newWMOutbox(t testing.TB, db *sql.DB, batch int) *wmOutbox {
	t.Helper()
	w := &wmOutbox{db: db, topic: outboxtest.Table("wm"), schema: wmsql.DefaultPostgreSQLSchema{SubscribeBatchSize: batch}}
	sub := w.subscriber(t, time.Second)
	require.NoError(t, sub.SubscribeInitialize(w.topic))
	require.NoError(t, sub.Close())
	t.Cleanup(func() { dropTables(db, "watermill_"+w.topic, "watermill_offsets_"+w.topic) })
	return w
}

func (w *wmOutbox) subscriber(t testing.TB, poll time.Duration) *wmsql.Subscriber {
	t.Helper()
	sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromStdSQL(w.db), wmsql.SubscriberConfig{
		SchemaAdapter:  w.schema,
		OffsetsAdapter: wmsql.DefaultPostgreSQLOffsetsAdapter{},
		PollInterval:   poll,
	}, watermill.NopLogger{})
	require.NoError(t, err)
	return sub
}

// add writes msgs, destined to subject, in one committed transaction, as
// a watermill user does: a SQL publisher on the transaction, decorated by
// the forwarder's publisher.
func (w *wmOutbox) add(t testing.TB, subject string, msgs ...*message.Message) {
	t.Helper()
	tx, err := w.db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	w.addIn(t, tx, subject, msgs...)
	require.NoError(t, tx.Commit())
}

// addIn writes msgs within tx, the caller's transaction.
func (w *wmOutbox) addIn(t testing.TB, tx *sql.Tx, subject string, msgs ...*message.Message) {
	t.Helper()
	pub, err := wmsql.NewPublisher(wmsql.TxFromStdSQL(tx), wmsql.PublisherConfig{SchemaAdapter: w.schema}, watermill.NopLogger{})
	require.NoError(t, err)
	fwd := forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: w.topic})
	if err := fwd.Publish(subject, msgs...); err != nil {
		_ = tx.Rollback()
		require.NoError(t, err)
	}
}

// run starts a forwarder from the SQL table to JetStream, on a connection
// of its own to natsURL (watermill's NATS publisher closes it), with
// Nats-Msg-Id set to the message UUID as our publisher does. The returned
// function stops it.
func (w *wmOutbox) run(t testing.TB, natsURL string, poll time.Duration) (stop func()) {
	t.Helper()
	nc, err := natsgo.Connect(natsURL)
	require.NoError(t, err)
	pub, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: true},
	}, watermill.NopLogger{})
	require.NoError(t, err)
	sub := w.subscriber(t, poll)
	f, err := forwarder.NewForwarder(sub, pub, watermill.NopLogger{}, forwarder.Config{
		ForwarderTopic: w.topic,
		CloseTimeout:   10 * time.Second,
	})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(context.Background())
	}()
	select {
	case <-f.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("the forwarder did not start")
	}
	return func() {
		_ = f.Close()
		<-done
		_ = sub.Close()
		_ = pub.Close()
	}
}

// wmMessages returns n watermill messages over keys keys (the key travels
// as metadata, as watermill has no ordering key) with payloads of size
// bytes.
func wmMessages(n, keys, size int) []*message.Message {
	msgs := make([]*message.Message, n)
	payload := make([]byte, size)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
		msgs[i].Metadata.Set("key", keyName(i%keys))
	}
	return msgs
}

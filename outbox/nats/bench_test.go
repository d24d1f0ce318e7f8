package nats_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
)

// BenchmarkPublish measures publish throughput to the machine's JetStream
// (file storage, as a relay would use) in batches, with the messages of a
// batch spread over a number of keys. One op is one batch; msgs/s is the
// figure to read. Peers: the raw jetstream client, pipelining everything
// with no per-key order (jetstream-async, an upper bound), and publishing one
// message at a time (jetstream-sync).
func BenchmarkPublish(b *testing.B) {
	for _, sc := range []struct{ batch, keys int }{{100, 100}, {1000, 100}, {1000, 10}} {
		name := fmt.Sprintf("batch=%d,keys=%d", sc.batch, sc.keys)
		b.Run(name+"/resilience", func(b *testing.B) {
			nc, stream := benchStream(b)
			p := nats.New(nc, nats.Config{})
			defer p.Close()
			msgs := benchMsgs(stream, sc.batch, sc.keys)
			errs := make([]error, len(msgs))
			run(b, sc.batch, func(ctx context.Context) {
				renumber(msgs)
				p.Publish(ctx, msgs, errs)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name+"/jetstream-async", func(b *testing.B) {
			nc, stream := benchStream(b)
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
			defer js.CleanupPublisher()
			msgs := benchMsgs(stream, sc.batch, sc.keys)
			futs := make([]jetstream.PubAckFuture, len(msgs))
			run(b, sc.batch, func(ctx context.Context) {
				renumber(msgs)
				for i := range msgs {
					f, err := js.PublishMsgAsync(&natsgo.Msg{Subject: msgs[i].Topic, Data: msgs[i].Payload,
						Header: natsgo.Header{jetstream.MsgIDHeader: {msgs[i].ID}}})
					if err != nil {
						b.Fatal(err)
					}
					futs[i] = f
				}
				for _, f := range futs {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name+"/jetstream-sync", func(b *testing.B) {
			nc, stream := benchStream(b)
			js, _ := jetstream.New(nc)
			msgs := benchMsgs(stream, sc.batch, sc.keys)
			run(b, sc.batch, func(ctx context.Context) {
				renumber(msgs)
				for i := range msgs {
					if _, err := js.PublishMsg(ctx, &natsgo.Msg{Subject: msgs[i].Topic, Data: msgs[i].Payload,
						Header: natsgo.Header{jetstream.MsgIDHeader: {msgs[i].ID}}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

var benchRun, benchIter int

// renumber gives msgs fresh IDs.
func renumber(msgs []outbox.Message) {
	benchIter++
	prefix := strconv.Itoa(benchIter) + "-"
	for i := range msgs {
		msgs[i].ID = prefix + strconv.Itoa(i)
	}
}

// run times b.N calls of publish (one batch each) and reports msgs/s. Each
// call gets fresh message IDs so that JetStream does not drop them as
// duplicates.
func run(b *testing.B, batch int, publish func(context.Context)) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		publish(ctx)
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "msgs/s")
}

func benchStream(b *testing.B) (*natsgo.Conn, string) {
	nc := sharedConn(b)
	stream := testStream(b, nc, func(c *jetstream.StreamConfig) {
		c.Storage = jetstream.FileStorage
		c.MaxMsgs = 100_000
		c.Duplicates = time.Second // keep the dedup index small; IDs are unique anyway
	})
	return nc, stream
}

// benchMsgs returns batch messages over keys keys with 256-byte payloads.
func benchMsgs(stream string, batch, keys int) []outbox.Message {
	benchRun++
	msgs := make([]outbox.Message, batch)
	payload := make([]byte, 256)
	for i := range msgs {
		key := fmt.Sprintf("k%d", i%keys)
		msgs[i] = outbox.Message{
			ID:      fmt.Sprintf("b%d-%d", benchRun, i),
			Topic:   stream + ".bench." + key,
			Key:     key,
			Payload: payload,
		}
	}
	return msgs
}

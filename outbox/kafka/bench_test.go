package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/kafka"
)

// BenchmarkPublish measures publish throughput to an in-process kfake
// cluster (no Kafka server here, so the figure mostly shows the overhead of
// the client and the fake broker). One op is one batch; msgs/s is the figure
// to read. Peer: the client's own ProduceSync of the same records
// (kgo-produce-sync).
func BenchmarkPublish(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		name := fmt.Sprintf("batch=%d,keys=100", batch)
		b.Run(name+"/resilience", func(b *testing.B) {
			c := cluster(b, 8, []string{"bench"})
			p := kafka.New(client(b, c), kafka.Config{})
			msgs := benchMsgs(batch)
			errs := make([]error, batch)
			run(b, batch, func(ctx context.Context) {
				p.Publish(ctx, msgs, errs)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name+",linger=0/resilience", func(b *testing.B) {
			c := cluster(b, 8, []string{"bench"})
			p := kafka.New(client(b, c, kgo.ProducerLinger(0)), kafka.Config{})
			msgs := benchMsgs(batch)
			errs := make([]error, batch)
			run(b, batch, func(ctx context.Context) {
				p.Publish(ctx, msgs, errs)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name+"/kgo-produce-sync", func(b *testing.B) {
			c := cluster(b, 8, []string{"bench"})
			cl := client(b, c)
			msgs := benchMsgs(batch)
			records := make([]*kgo.Record, batch)
			run(b, batch, func(ctx context.Context) {
				for i := range msgs {
					records[i] = &kgo.Record{Topic: msgs[i].Topic, Key: []byte(msgs[i].Key), Value: msgs[i].Payload,
						Headers: []kgo.RecordHeader{{Key: "Message-Id", Value: []byte(msgs[i].ID)}}}
				}
				if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func run(b *testing.B, batch int, publish func(context.Context)) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		publish(ctx)
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "msgs/s")
}

func benchMsgs(batch int) []outbox.Message {
	msgs := make([]outbox.Message, batch)
	payload := make([]byte, 256)
	for i := range msgs {
		key := fmt.Sprintf("k%d", i%100)
		msgs[i] = outbox.Message{ID: fmt.Sprintf("m%d", i), Topic: "bench", Key: key, Payload: payload}
	}
	return msgs
}

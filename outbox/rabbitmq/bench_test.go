package rabbitmq_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/rabbitmq"
)

// BenchmarkPublish measures publish throughput to the machine's RabbitMQ
// (persistent messages to a durable queue, publisher confirms). One op is
// one batch; msgs/s is the figure to read. Peer: amqp091-go publishing the
// whole batch on a confirm channel and waiting for every deferred confirm,
// with no per-key order (amqp091-confirms, an upper bound).
func BenchmarkPublish(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		name := fmt.Sprintf("batch=%d,keys=100", batch)
		b.Run(name+"/resilience", func(b *testing.B) {
			conn := dial(b, nil)
			q := queue(b, conn, amqp.Table{"x-max-length": int32(100_000)})
			p := newPublisher(b, conn, rabbitmq.Config{})
			msgs := benchMsgs(q, batch)
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
		b.Run(name+"/amqp091-confirms", func(b *testing.B) {
			conn := dial(b, nil)
			q := queue(b, conn, amqp.Table{"x-max-length": int32(100_000)})
			ch, err := conn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			defer ch.Close()
			if err := ch.Confirm(false); err != nil {
				b.Fatal(err)
			}
			msgs := benchMsgs(q, batch)
			dcs := make([]*amqp.DeferredConfirmation, batch)
			run(b, batch, func(ctx context.Context) {
				for i := range msgs {
					dc, err := ch.PublishWithDeferredConfirm("", q, true, false, amqp.Publishing{
						DeliveryMode: amqp.Persistent, MessageId: msgs[i].ID, Body: msgs[i].Payload})
					if err != nil {
						b.Fatal(err)
					}
					dcs[i] = dc
				}
				for _, dc := range dcs {
					if ok, err := dc.WaitContext(ctx); !ok || err != nil {
						b.Fatal("nack", err)
					}
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

func benchMsgs(q string, batch int) []outbox.Message {
	msgs := make([]outbox.Message, batch)
	payload := make([]byte, 256)
	for i := range msgs {
		msgs[i] = outbox.Message{ID: "m" + strconv.Itoa(i), Topic: q, Key: "k" + strconv.Itoa(i%100), Payload: payload}
	}
	return msgs
}

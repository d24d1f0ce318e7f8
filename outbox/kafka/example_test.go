package kafka_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/kafka"
)

func ExampleNew() {
	// An in-process Kafka for the example; in production seed your brokers.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// The client's defaults (acks=all, idempotent producer) are what the
	// publisher requires.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	pub := kafka.New(cl, kafka.Config{})
	msgs := []outbox.Message{
		{ID: "01J0001", Topic: "orders", Key: "order-1", Payload: []byte(`{"status":"created"}`)},
		{ID: "01J0002", Topic: "orders", Key: "order-1", Payload: []byte(`{"status":"paid"}`)},
		{ID: "01J0003", Topic: "orders", Key: "order-2", Payload: []byte(`{"status":"created"}`)},
	}
	errs := make([]error, len(msgs))
	pub.Publish(context.Background(), msgs, errs)
	fmt.Println(errs)
	// Output:
	// [<nil> <nil> <nil>]
}

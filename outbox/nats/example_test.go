package nats_test

import (
	"context"
	"fmt"
	"log"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
)

// ExampleNew publishes to a JetStream server; for one in the current
// process, with no installation, see outbox/nats/embedded, whose example
// runs this one.
func ExampleNew() {
	nc, err := natsgo.Connect(natsgo.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		log.Fatal(err)
	}

	pub := nats.New(nc, nats.Config{Stream: "ORDERS"})
	defer pub.Close()

	msgs := []outbox.Message{
		{ID: "01J0001", Topic: "orders.created", Key: "order-1", Payload: []byte(`{"id":1}`)},
		{ID: "01J0002", Topic: "orders.paid", Key: "order-1", Payload: []byte(`{"id":1}`)},
	}
	errs := make([]error, len(msgs))
	pub.Publish(ctx, msgs, errs)
	for i, err := range errs {
		fmt.Printf("%s: %v\n", msgs[i].Topic, err)
	}
}

package embedded_test

import (
	"context"
	"fmt"
	"log"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/nats"
	"github.com/resiliencekit/resilience/outbox/nats/embedded"
)

// Example runs the outbox quickstart's broker: an in-process JetStream
// server, and an outbox/nats publisher on it.
func Example() {
	// An in-process NATS server with JetStream, as in the quickstart; in
	// production connect to your cluster instead.
	srv, err := embedded.Start(embedded.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := natsgo.Connect(srv.URL())
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
		{ID: "01J0003", Topic: "invoices.created", Key: "order-1", Payload: []byte(`{"id":1}`)},
	}
	errs := make([]error, len(msgs))
	pub.Publish(ctx, msgs, errs)
	for i, err := range errs {
		fmt.Printf("%s: %v\n", msgs[i].Topic, err)
	}

	// Republishing (a relay that crashed before recording the publication)
	// is dropped by JetStream thanks to Nats-Msg-Id.
	pub.Publish(ctx, msgs[:1], errs[:1])
	s, _ := js.Stream(ctx, "ORDERS")
	fmt.Println("republish:", errs[0], "- stored:", s.CachedInfo().State.Msgs)
	// Output:
	// orders.created: <nil>
	// orders.paid: <nil>
	// invoices.created: outbox/nats: message 01J0003 to invoices.created: rejected by the broker: nats: no response from stream
	// republish: <nil> - stored: 2
}

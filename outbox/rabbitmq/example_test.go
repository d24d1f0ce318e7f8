package rabbitmq_test

import (
	"context"
	"fmt"
	"log"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/rabbitmq"
)

func ExampleNew() {
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	q, _ := ch.QueueDeclare("", false, true, true, false, nil) // a private queue for the example
	defer ch.Close()

	pub := rabbitmq.New(conn, rabbitmq.Config{AckTimeout: 10 * time.Second})
	defer pub.Close()
	msgs := []outbox.Message{
		{ID: "01J0001", Topic: q.Name, Key: "order-1", Payload: []byte(`{"status":"created"}`)},
		{ID: "01J0002", Topic: "no-such-queue", Key: "order-2", Payload: []byte(`{"status":"created"}`)},
		{ID: "01J0003", Topic: q.Name, Key: "order-2", Payload: []byte(`{"status":"paid"}`)},
	}
	errs := make([]error, len(msgs))
	pub.Publish(context.Background(), msgs, errs)
	for i, err := range errs {
		fmt.Printf("%s: %v\n", msgs[i].ID, err)
	}
	// Output:
	// 01J0001: <nil>
	// 01J0002: outbox/rabbitmq: message 01J0002 to no-such-queue: unroutable: basic.return 312 NO_ROUTE
	// 01J0003: outbox: not sent, an earlier message of its key failed
}

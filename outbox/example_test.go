package outbox_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/resiliencekit/resilience/outbox"
)

// A PublisherFunc delivers in-process, one message at a time, and keeps the
// publisher contract: once a message fails, the later messages of its key
// are not sent.
func ExamplePublisherFunc() {
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		if string(m.Payload) == "bad" {
			return errors.New("rejected")
		}
		fmt.Printf("deliver %s %s\n", m.Key, m.Payload)
		return nil
	})
	msgs := []outbox.Message{
		{Topic: "orders", Key: "o-1", Payload: []byte("created")},
		{Topic: "orders", Key: "o-1", Payload: []byte("bad")},
		{Topic: "orders", Key: "o-2", Payload: []byte("created")},
		{Topic: "orders", Key: "o-1", Payload: []byte("paid")},
	}
	errs := make([]error, len(msgs))
	pub.Publish(context.Background(), msgs, errs)
	for i, err := range errs {
		fmt.Println(i, err)
	}
	// Output:
	// deliver o-1 created
	// deliver o-2 created
	// 0 <nil>
	// 1 rejected
	// 2 <nil>
	// 3 outbox: not sent, an earlier message of its key failed
}

// A MemoryPublisher records what a relay publishes; SetFailure injects
// broker failures.
func ExampleMemoryPublisher() {
	pub := outbox.NewMemoryPublisher()
	pub.SetFailure(func(m outbox.Message) error {
		if m.Topic == "down" {
			return errors.New("broker down")
		}
		return nil
	})
	errs := make([]error, 2)
	pub.Publish(context.Background(), []outbox.Message{
		{Topic: "orders", Key: "o-1", Payload: []byte("created")},
		{Topic: "down", Key: "o-2"},
	}, errs)
	fmt.Println(errs)
	msgs, _ := pub.Wait(context.Background(), 1)
	fmt.Println(len(msgs), msgs[0].Topic, string(msgs[0].Payload))
	// Output:
	// [<nil> broker down]
	// 1 orders created
}

// IDs are version 7 UUIDs: unique, and sorted by creation time as text.
func ExampleNewID() {
	id := outbox.NewID()
	fmt.Println(len(id), id[14:15])
	// Output: 36 7
}

// A LocalNotifier wakes the relays of a process after its own commits, when
// the database has no LISTEN/NOTIFY (SQLite, MySQL).
func ExampleLocalNotifier() {
	n := outbox.NewLocalNotifier()
	wake, cancel := n.Subscribe() // a relay does this in Run
	defer cancel()
	// ... commit a transaction that added messages, then:
	n.Notify()
	<-wake
	fmt.Println("relay woken")
	// Output: relay woken
}

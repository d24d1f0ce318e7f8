// Package rabbitmq publishes outbox messages to RabbitMQ with amqp091-go.
//
// A [Publisher] implements [outbox.Publisher] on an [amqp.Connection] owned
// by the caller:
//
//	conn, _ := amqp.Dial("amqp://guest:guest@localhost:5672/")
//	defer conn.Close()
//	pub := rabbitmq.New(conn, rabbitmq.Config{Exchange: "events"})
//	defer pub.Close()
//	relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{})
//
// The publisher opens its own channel in confirm mode and publishes every
// message persistent (delivery mode 2) to [Config.Exchange] with
// [outbox.Message.Topic] as the routing key, the message ID as the AMQP
// message-id property (for the consumer's Inbox) and the headers as AMQP
// headers; [outbox.Message.ExpiresAt] becomes the per-message expiration. A
// message counts as delivered only when its publisher confirm (basic.ack)
// arrives, that is when every queue it was routed to has taken
// responsibility for it.
//
// Messages are published with the mandatory flag: a message that no queue
// takes is returned by the broker and fails with [ErrUnroutable] instead of
// being dropped silently (unless [Config.AllowUnroutable]).
//
// # Ordering and pipelining
//
// Messages of different keys are pipelined (up to [Config.MaxInFlight]
// unconfirmed at once); messages of one key are sent one at a time, the next
// only after the previous one's confirm, so a failed message is never
// overtaken by a later one of its key. When a message fails, the later
// messages of its key in the same call are not sent and report
// [outbox.ErrNotSent].
//
// # Errors
//
// A failed message gets an [*Error] matching [ErrRejected] (the broker
// nacked it, e.g. a queue at its x-max-length with x-overflow=reject-publish),
// [ErrUnroutable] (returned: no queue bound for its routing key),
// [ErrTimeout] (no confirm within [Config.AckTimeout]; it may or may not have
// been enqueued) or [ErrUnavailable] (the channel or connection was closed
// before the confirm). A cancelled context ends the wait at once: messages in
// flight fail with the context's error, messages never sent report an error
// matching both [outbox.ErrNotSent] and the context's error.
//
// # Reconnecting
//
// amqp091-go does not reconnect. When the publisher's channel is closed (a
// channel error, or the connection went away) the messages waiting for a
// confirm fail with [ErrUnavailable] and the next Publish opens a new channel.
// When the connection itself is closed, Publish fails at once with
// [ErrUnavailable] — unless [Config.Dial] is set, in which case the publisher
// dials a new connection (which it then owns and closes in Close) and goes
// on. A write to a connection whose TCP buffers are full (a broker that stops
// reading) blocks in the client beyond the context; RabbitMQ normally closes
// or blocks such connections instead.
package rabbitmq

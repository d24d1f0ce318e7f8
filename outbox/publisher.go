package outbox

import (
	"context"
	"errors"
)

// Publisher delivers messages to a broker. Implementations live in nested
// modules beside this package (outbox/nats, outbox/kafka, outbox/rabbitmq)
// so that this package imports no broker client.
//
// Publish sends msgs and writes the outcome of msgs[i] to errs[i]
// (len(errs) == len(msgs)): nil when the broker acknowledged the message
// durably (a JetStream PubAck, a Kafka ack from all in-sync replicas, a
// RabbitMQ publisher confirm), an error otherwise. It must not return
// before every message has an outcome.
//
// Ordering: messages with the same Key appear in msgs in commit order, and
// the broker must receive them in that order. A publisher may pipeline
// messages of different keys, but must not send a message before the
// previous message of the same key in msgs was acknowledged, unless the
// broker itself guarantees the order of what was sent (as Kafka's
// idempotent producer does per partition). When a message fails, later
// messages of its key must not be sent in this call: report them with
// ErrNotSent.
//
// Unavailability: when a message failed because the broker could not be
// reached (connection down or closed, no broker or stream answering, no
// acknowledgement in time), its error should match ErrUnavailable with
// errors.Is. The relay then retries the message without counting an
// attempt against it and without delaying it: the broker being down says
// nothing about the message, and only the relay's breaker paces the calls
// until the broker is back. An error that says something about the message
// (the broker refused it: too large, no such topic, a negative
// acknowledgement) must not match ErrUnavailable, so that it counts and, in
// the end, dead-letters the message; an error that matches both
// ErrUnavailable and resilience.Permanent is treated as permanent.
//
// Publish is called by one goroutine of a relay at a time, but several
// relays may share a Publisher; it must be safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message, errs []error)
}

// ErrNotSent reports a message that a publisher did not send because an
// earlier message of the same key failed in the same call. The relay
// retries it after that message, without counting an attempt against it.
var ErrNotSent = errors.New("outbox: not sent, an earlier message of its key failed")

// ErrUnavailable is matched (errors.Is) by a publisher's error for a
// message that failed because the broker could not be reached: it says
// nothing about the message. The relay retries such a message as soon as
// its breaker lets it, without counting an attempt against it, so that an
// outage of any length dead-letters nothing; see Publisher.
var ErrUnavailable = errors.New("outbox: broker unavailable")

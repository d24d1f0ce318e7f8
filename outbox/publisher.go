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
// Publish is called by one goroutine of a relay at a time, but several
// relays may share a Publisher; it must be safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message, errs []error)
}

// ErrNotSent reports a message that a publisher did not send because an
// earlier message of the same key failed in the same call. The relay
// retries it after that message, without counting an attempt against it.
var ErrNotSent = errors.New("outbox: not sent, an earlier message of its key failed")

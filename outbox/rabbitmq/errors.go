package rabbitmq

import (
	"errors"

	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

const prefix = "outbox/rabbitmq"

// Kinds of publish failure. An [*Error] matches one of them with
// [errors.Is]; its Unwrap returns the cause (an *amqp.Error, amqp.ErrClosed,
// the context's error, ...).
var (
	// ErrRejected: the broker nacked the message (basic.nack), e.g. a
	// queue at its length limit with x-overflow=reject-publish. It counts
	// as an attempt, as does [ErrUnroutable].
	ErrRejected = publish.NewKind(prefix, "rejected by the broker", false)
	// ErrUnroutable: the broker returned the message: no queue is bound
	// for its routing key on the exchange.
	ErrUnroutable = publish.NewKind(prefix, "unroutable", false)
	// ErrTimeout: no confirm arrived within Config.AckTimeout. The message
	// may or may not have been enqueued. It matches
	// [outbox.ErrUnavailable] too: a broker that does not answer in time
	// says nothing about the message, so the relay does not count it as
	// an attempt.
	ErrTimeout = publish.NewKind(prefix, "no confirm in time", true)
	// ErrUnavailable: the channel or the connection was closed, or could
	// not be opened, before the confirm. It matches
	// [outbox.ErrUnavailable] too.
	ErrUnavailable = publish.NewKind(prefix, "broker unavailable", true)
	// ErrClosed: Publish was called after Close.
	ErrClosed = errors.New(prefix + ": publisher closed")
)

// Error is the outcome of one message that failed. It matches its kind
// ([ErrRejected], [ErrUnroutable], [ErrTimeout], [ErrUnavailable], or none
// for a cancelled context) with errors.Is, and unwraps to the cause.
type Error struct {
	ID         string // outbox.Message.ID
	RoutingKey string // routing key the message was published with
	Err        error  // cause
	kind       *publish.Kind
}

// Error returns "outbox/rabbitmq: message <ID> to <RoutingKey>: <kind>: <cause>".
func (e *Error) Error() string {
	return publish.ErrorText(prefix, e.ID, e.RoutingKey, e.kind, e.Err)
}

// Is reports whether target is the kind of e, or [outbox.ErrUnavailable]
// when that kind is [ErrUnavailable] or [ErrTimeout]: the broker could not
// be reached or did not answer, which says nothing about the message, so
// that the relay retries it without counting an attempt.
func (e *Error) Is(target error) bool { return e.kind.Match(target) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Causes for failures that have no error of the client.
var (
	errNack         = errors.New("basic.nack")
	errNoConfirm    = errors.New("no confirm")
	errChannelGone  = errors.New("channel closed before the confirm")
	errReturnedCode = "basic.return %d %s"
)

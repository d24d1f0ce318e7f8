package nats

import (
	"errors"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
)

// Kinds of publish failure. An [*Error] matches one of them with
// [errors.Is]; its Unwrap returns the client's error (a *jetstream.APIError,
// nats.ErrDisconnected, ...).
var (
	// ErrRejected: the broker answered with an error instead of a PubAck
	// (no stream captures the subject, a stream limit was hit, the expected
	// stream differs, the message is too large). Republishing the same
	// message is likely to fail the same way.
	ErrRejected = errors.New("outbox/nats: rejected by the broker")
	// ErrTimeout: no PubAck arrived within Config.AckTimeout. The stream
	// may or may not have stored the message; Nats-Msg-Id makes a
	// republish safe within the duplicate window.
	ErrTimeout = errors.New("outbox/nats: no acknowledgement in time")
	// ErrUnavailable: the connection was not connected, was closed, or was
	// lost before the PubAck arrived.
	ErrUnavailable = errors.New("outbox/nats: broker unavailable")
	// ErrClosed: Publish was called after Close.
	ErrClosed = errors.New("outbox/nats: publisher closed")
)

// Error is the outcome of one message that failed. It matches its kind
// ([ErrRejected], [ErrTimeout], [ErrUnavailable], or none for a cancelled
// context) with errors.Is, and unwraps to the cause.
type Error struct {
	ID      string // outbox.Message.ID
	Subject string // subject the message was published to
	Err     error  // cause, from the NATS client or the context
	kind    error
}

func (e *Error) Error() string {
	what := "publish failed"
	if e.kind != nil {
		what = e.kind.Error()[len("outbox/nats: "):]
	}
	return fmt.Sprintf("outbox/nats: message %s to %s: %s: %v", e.ID, e.Subject, what, e.Err)
}

// Is reports whether target is the kind of e.
func (e *Error) Is(target error) bool { return target != nil && target == e.kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindOf classifies an error of the NATS client.
func kindOf(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		return ErrTimeout
	case errors.Is(err, natsgo.ErrDisconnected), errors.Is(err, natsgo.ErrConnectionClosed),
		errors.Is(err, natsgo.ErrConnectionDraining), errors.Is(err, natsgo.ErrReconnectBufExceeded),
		errors.Is(err, jetstream.ErrJetStreamPublisherClosed), errors.Is(err, natsgo.ErrNoServers),
		errors.Is(err, natsgo.ErrStaleConnection), errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return ErrUnavailable
	case errors.As(err, &apiErr), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, natsgo.ErrMaxPayload), errors.Is(err, natsgo.ErrBadSubject),
		errors.Is(err, natsgo.ErrInvalidMsg), errors.Is(err, jetstream.ErrInvalidJSAck):
		return ErrRejected
	}
	return nil
}

// notSent is the outcome of a message that was never sent because the call
// ended first (context, Close): it matches outbox.ErrNotSent and its cause.
type notSent struct{ cause error }

func (e notSent) Error() string {
	return "outbox/nats: not sent: " + e.cause.Error()
}

func (e notSent) Is(target error) bool { return target == outbox.ErrNotSent }

func (e notSent) Unwrap() error { return e.cause }

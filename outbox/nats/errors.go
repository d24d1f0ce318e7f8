package nats

import (
	"errors"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

const prefix = "outbox/nats"

// Kinds of publish failure. An [*Error] matches one of them with
// [errors.Is]; its Unwrap returns the client's error (a *jetstream.APIError,
// nats.ErrDisconnected, ...).
var (
	// ErrRejected: the broker answered with an error instead of a PubAck
	// (no stream captures the subject, a stream limit was hit, the expected
	// stream differs, the message is too large). Republishing the same
	// message is likely to fail the same way.
	// It counts as an attempt. That includes "no responders" (no stream
	// captures the subject): on a connected client it depends on the
	// message's subject, and a message no stream will ever take must end
	// in the dead letters rather than stall its key; while the server is
	// down the client reports the connection instead ([ErrUnavailable]).
	ErrRejected = publish.NewKind(prefix, "rejected by the broker", false)
	// ErrTimeout: no PubAck arrived within Config.AckTimeout. The stream
	// may or may not have stored the message; Nats-Msg-Id makes a
	// republish safe within the duplicate window. It matches
	// [outbox.ErrUnavailable] too: a server that does not answer in time
	// is unavailable (down, restarting, overloaded, or the client is
	// still buffering while it reconnects), which says nothing about the
	// message, so the relay does not count it as an attempt.
	ErrTimeout = publish.NewKind(prefix, "no acknowledgement in time", true)
	// ErrUnavailable: the connection was not connected, was closed, or was
	// lost before the PubAck arrived. It matches [outbox.ErrUnavailable]
	// too.
	ErrUnavailable = publish.NewKind(prefix, "broker unavailable", true)
	// ErrClosed: Publish was called after Close.
	ErrClosed = errors.New(prefix + ": publisher closed")
)

// Error is the outcome of one message that failed. It matches its kind
// ([ErrRejected], [ErrTimeout], [ErrUnavailable], or none for a cancelled
// context) with errors.Is, and unwraps to the cause.
type Error struct {
	ID      string // outbox.Message.ID
	Subject string // subject the message was published to
	Err     error  // cause, from the NATS client or the context
	kind    *publish.Kind
}

// Error returns "outbox/nats: message <ID> to <Subject>: <kind>: <cause>".
func (e *Error) Error() string {
	return publish.ErrorText(prefix, e.ID, e.Subject, e.kind, e.Err)
}

// Is reports whether target is the kind of e, or [outbox.ErrUnavailable]
// when that kind is [ErrUnavailable] or [ErrTimeout]: the broker could not
// be reached or did not answer, which says nothing about the message, so
// that the relay retries it without counting an attempt.
func (e *Error) Is(target error) bool { return e.kind.Match(target) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindOf classifies an error of the NATS client.
func kindOf(err error) *publish.Kind {
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

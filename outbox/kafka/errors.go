package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

const prefix = "outbox/kafka"

// Kinds of publish failure. An [*Error] matches one of them with
// [errors.Is]; its Unwrap returns the client's error (a *kerr.Error,
// kgo.ErrRecordTimeout, ...).
var (
	// ErrRejected: the broker refused the record with a non-retriable
	// error (message too large, unknown topic, authorization, invalid
	// record). Republishing it is likely to fail the same way. It counts
	// as an attempt.
	ErrRejected = publish.NewKind(prefix, "rejected by the broker", false)
	// ErrTimeout: the record was not acknowledged within the client's
	// RecordDeliveryTimeout. It may or may not have been written. It
	// matches [outbox.ErrUnavailable] too: brokers that do not answer in
	// time say nothing about the record, so the relay does not count it
	// as an attempt.
	ErrTimeout = publish.NewKind(prefix, "no acknowledgement in time", true)
	// ErrUnavailable: the client gave up on the record after retrying
	// (RecordRetries, or a retriable broker error such as no leader for
	// the partition), its buffer was full, or it was closed. It matches
	// [outbox.ErrUnavailable] too.
	ErrUnavailable = publish.NewKind(prefix, "broker unavailable", true)
)

// Error is the outcome of one message that failed. It matches its kind
// ([ErrRejected], [ErrTimeout], [ErrUnavailable], or none for a cancelled
// context) with errors.Is, and unwraps to the cause.
type Error struct {
	ID    string // outbox.Message.ID
	Topic string // Kafka topic
	Err   error  // cause, from the client or the context
	kind  *publish.Kind
}

// Error returns "outbox/kafka: message <ID> to <Topic>: <kind>: <cause>".
func (e *Error) Error() string {
	return publish.ErrorText(prefix, e.ID, e.Topic, e.kind, e.Err)
}

// Is reports whether target is the kind of e, or [outbox.ErrUnavailable]
// when that kind is [ErrUnavailable] or [ErrTimeout]: the broker could not
// be reached or did not answer, which says nothing about the message, so
// that the relay retries it without counting an attempt.
func (e *Error) Is(target error) bool { return e.kind.Match(target) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindOf classifies an error of the client.
func kindOf(err error) *publish.Kind {
	var kafkaErr *kerr.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if errors.Is(err, kgo.ErrRecordTimeout) {
			return ErrTimeout
		}
		return nil
	case errors.Is(err, kgo.ErrRecordTimeout):
		return ErrTimeout
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return ErrRejected // retriable for Kafka, but the client gave up: no such topic
	case errors.Is(err, kgo.ErrRecordRetries), errors.Is(err, kgo.ErrClientClosed),
		errors.Is(err, kgo.ErrMaxBuffered):
		return ErrUnavailable
	case errors.As(err, &kafkaErr):
		if kafkaErr.Retriable {
			return ErrUnavailable
		}
		return ErrRejected
	}
	return nil
}

// notSent is the outcome of a later message of a failed key, which the
// client failed with the earlier one: it matches outbox.ErrNotSent and its
// own cause.
type notSent struct{ err error }

func (e notSent) Error() string {
	return prefix + ": not sent after an earlier failure: " + e.err.Error()
}

func (e notSent) Is(target error) bool { return target == outbox.ErrNotSent }

func (e notSent) Unwrap() error { return e.err }

// Package publish holds what the broker publishers of outbox (outbox/nats,
// outbox/kafka, outbox/rabbitmq) share: their kinds of failure (Kind), the
// text of their errors, the per-key schedule of a pipelining publisher
// (KeyOrder) and the bookkeeping of one Publish call (Call, Pipeline). It
// is internal to outbox: Go's internal rule lets the nested modules under
// outbox/ import it, and nothing else.
package publish

import (
	"fmt"

	"github.com/resiliencekit/resilience/outbox"
)

// Kind is one kind of publish failure, such as "rejected by the broker" or
// "no acknowledgement in time". A publisher declares each of its kinds
// once, as a package-level sentinel made with NewKind, and records the kind
// in the error it returns for a failed message; that error's Is method
// calls Match, so that errors.Is matches the sentinel, and
// outbox.ErrUnavailable as well for a kind made unavailable (the broker
// could not be reached or did not answer, which says nothing about the
// message; see outbox.Publisher). A nil *Kind stands for no kind, such as
// a cancelled context: it matches nothing. A *Kind is immutable and safe
// for concurrent use; the zero value is not useful.
type Kind struct {
	prefix, what string
	unavailable  bool
}

// NewKind returns a kind of failure of the publisher whose errors start
// with prefix (such as "outbox/nats"); its Error is "prefix: what". When
// unavailable is true, errors of this kind match outbox.ErrUnavailable. It
// panics when prefix or what is empty.
func NewKind(prefix, what string, unavailable bool) *Kind {
	if prefix == "" || what == "" {
		panic("outbox/internal/publish: NewKind needs a prefix and a description")
	}
	return &Kind{prefix: prefix, what: what, unavailable: unavailable}
}

// Error returns "prefix: what".
func (k *Kind) Error() string { return k.prefix + ": " + k.what }

// Unavailable reports whether errors of kind k match
// outbox.ErrUnavailable. It is false for a nil k.
func (k *Kind) Unavailable() bool { return k != nil && k.unavailable }

// Match reports whether an error of kind k matches target: target is k
// itself, or outbox.ErrUnavailable when k is Unavailable. A nil k or target
// matches nothing. A publisher's error implements its Is method with it.
func (k *Kind) Match(target error) bool {
	switch {
	case k == nil || target == nil:
		return false
	case target == outbox.ErrUnavailable:
		return k.unavailable
	}
	return target == error(k)
}

// ErrorText returns the text of a publisher's error for message id sent to
// dest (a subject, topic or routing key):
// "prefix: message id to dest: what: cause", where what describes k, or is
// "publish failed" for a nil k.
func ErrorText(prefix, id, dest string, k *Kind, cause error) string {
	what := "publish failed"
	if k != nil {
		what = k.what
	}
	return prefix + ": message " + id + " to " + dest + ": " + what + ": " + fmt.Sprint(cause)
}

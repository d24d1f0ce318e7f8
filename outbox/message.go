package outbox

import (
	"fmt"
	"strconv"
	"time"
)

// Message is one event to deliver: written by Outbox.Add in the caller's
// transaction, published later by a Relay.
type Message struct {
	// ID identifies the message everywhere: in the outbox table, at the
	// broker (publishers use it for deduplication, e.g. Nats-Msg-Id) and in
	// a consumer's Inbox. Add generates a sortable unique ID (NewID) when
	// it is empty; at most MaxIDLen bytes.
	ID string
	// Topic is where the publisher sends the message (a subject, topic or
	// routing key). Required; at most MaxTopicLen bytes.
	Topic string
	// Key orders messages: those with the same Key reach the broker in
	// commit order and never concurrently, also with several relays (see
	// "Ordering" in the package documentation). Messages with different
	// keys may be published in parallel. Empty is a key like any other. At
	// most MaxKeyLen bytes.
	Key string
	// Payload is the body of the message, opaque to the outbox.
	Payload []byte
	// Headers travel with the message to the broker.
	Headers map[string]string
	// AvailableAt, when set, delays publishing until then. The later
	// messages of its key wait with it, to keep their order.
	AvailableAt time.Time
	// ExpiresAt, when set, is when the message is no longer worth
	// delivering: the relay moves it to the dead-letter table with reason
	// "expired" instead of publishing it.
	ExpiresAt time.Time

	// Attempts is how many times publishing the message failed before
	// (set by the relay; ignored by Add).
	Attempts int
	// CreatedAt is when Add wrote the message (set by the relay; ignored
	// by Add).
	CreatedAt time.Time
}

// FenceHeader is the header in which the relay sends a message's fence: a
// number that, for the messages of one key, only grows in the order the
// relays published them. Every claim of a batch takes a new, larger number
// from the database (under the claim lock that orders the claims of all
// relays), and the messages of the batch get it followed by their position.
//
// A relay that was paused for longer than its lease (a GC pause, a frozen
// VM) may wake up and send a batch whose keys another relay has taken over
// and published further: its messages then carry a smaller fence than
// those the consumer already has. Inbox.ProcessFenced drops them; a
// consumer without an Inbox can do the same with a high-water mark per key
// (see ParseFence). Add refuses a message that sets this header itself.
const FenceHeader = "Outbox-Fence"

// fenceShift places a claim's number above the position of a message in
// the batch: positions are below 1<<fenceShift (MaxBatchSize).
const fenceShift = 20

// MaxBatchSize is the largest RelayConfig.BatchSize: the positions of a
// batch's messages fit below its claim's number in the fence.
const MaxBatchSize = 1 << fenceShift

// fence is the fence of the message at position i of the batch of claim n.
func fence(n int64, i int) uint64 { return uint64(n)<<fenceShift | uint64(i) }

// ParseFence reads the value of a message's FenceHeader. An empty value
// (a message not sent by a relay of this version) is 0, which every fence
// is above. Anything but a decimal number is an error matching
// ErrInvalidMessage.
func ParseFence(v string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a fence", ErrInvalidMessage, FenceHeader, v)
	}
	return n, nil
}

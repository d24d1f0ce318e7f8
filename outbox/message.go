package outbox

import "time"

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

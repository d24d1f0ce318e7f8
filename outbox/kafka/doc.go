// Package kafka publishes outbox messages to Apache Kafka with franz-go.
//
// A [Publisher] implements [outbox.Publisher] on a [kgo.Client] owned by the
// caller:
//
//	cl, _ := kgo.NewClient(kgo.SeedBrokers("kafka:9092"))
//	defer cl.Close()
//	pub := kafka.New(cl, kafka.Config{})
//	relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{})
//
// Each message becomes one record: [outbox.Message.Topic] is the Kafka topic,
// [outbox.Message.Key] the record key (so all messages of a key land in one
// partition, in order), the payload the value, and the headers record
// headers, plus a Message-Id header ([Config.IDHeader]) carrying the message
// ID for the consumer's Inbox.
//
// # Durability and ordering
//
// New requires the client's defaults for producing: acks from all in-sync
// replicas (kgo.RequiredAcks(kgo.AllISRAcks())) and the idempotent producer
// (no kgo.DisableIdempotentWrite); it panics otherwise. With them a record is
// acknowledged only once every in-sync replica has it, retries inside the
// client never duplicate or reorder a partition, and when a record fails for
// good the client also fails every record buffered after it in its partition,
// so a later message of a key never lands before an earlier one that failed.
// This is why, unlike the NATS and RabbitMQ publishers, this one hands every
// message of a batch to the client at once, several of one key included: the
// client batches them per partition and Kafka keeps their order.
//
// Later messages of a failed key that failed with it report an error that
// matches [outbox.ErrNotSent] (and their own cause), so the relay retries them
// without counting an attempt.
//
// # Linger
//
// The client lingers (kgo.ProducerLinger, 10ms by default) to fill batches.
// A relay hands over a whole batch at once, so Publish then flushes the client
// instead of waiting for the linger; a flush waits for every record buffered
// in the client, those of other producers too. A client dedicated to the
// outbox with kgo.ProducerLinger(0) needs no flush and sends as it goes.
//
// # Errors
//
// A failed message gets an [*Error] matching [ErrRejected] (the broker
// refused the record for good: too large, unknown topic, not authorized,
// invalid), [ErrTimeout] (the client's RecordDeliveryTimeout or
// ProduceRequestTimeout elapsed) or [ErrUnavailable] (retries exhausted,
// client closed, broker unreachable). A cancelled context ends the wait at
// once. Records the client had not sent yet are failed by it; records already
// on the wire cannot be recalled by an idempotent producer and may still be
// written, so a retry can duplicate them: consumers deduplicate by the
// Message-Id header (the outbox Inbox does).
//
// # Reconnecting
//
// franz-go reconnects to brokers by itself and retries produce requests
// until RecordRetries, RecordDeliveryTimeout or the context stops it (by
// default only the context does): bound each Publish with a context deadline,
// as the relay does.
package kafka

// Package nats publishes outbox messages to NATS JetStream.
//
// A [Publisher] implements [outbox.Publisher] on a [nats.Conn] owned by the
// caller (imported as natsgo below to avoid the name clash):
//
//	nc, _ := natsgo.Connect(url)
//	defer nc.Close()
//	pub := nats.New(nc, nats.Config{})
//	defer pub.Close()
//	relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{})
//
// This module needs only nats.go. For a JetStream server inside the
// current process (the quickstart's broker, tests), use
// outbox/nats/embedded, a module of its own so that nats-server and its
// dependencies reach only the programs that run one.
//
// Every message is published with the header Nats-Msg-Id set to
// [outbox.Message.ID], so JetStream drops a message republished within the
// stream's duplicate window (two minutes by default; StreamConfig.Duplicates)
// — after a relay crash between publishing and recording the publication,
// for example. A message counts as delivered only when its PubAck arrives,
// that is when the stream has stored it.
//
// # Ordering and pipelining
//
// Messages of different keys are pipelined: they are all sent without
// waiting (up to [Config.MaxInFlight] unacknowledged at once) and their
// acknowledgements are collected as they come. Messages of one key are sent
// one at a time: the next leaves only after the previous one's PubAck, so a
// failed message can never be overtaken by a later message of its key. When
// a message fails, the later messages of its key in the same call are not
// sent and report [outbox.ErrNotSent].
//
// # Errors
//
// Each failed message gets an [*Error] that matches one of
// [ErrRejected] (JetStream answered with an error: no stream for the subject,
// a stream limit, a wrong expected stream), [ErrTimeout] (no PubAck within
// [Config.AckTimeout]: the message may or may not be stored) or
// [ErrUnavailable] (the connection was down, closed or lost before the
// PubAck). A cancelled context ends the wait at once: messages in flight then
// fail with the context's error, messages never sent report an error that
// matches both [outbox.ErrNotSent] and the context's error.
//
// # Reconnecting
//
// The connection's own reconnect logic (nats.MaxReconnects, ReconnectWait)
// applies; the publisher never closes or replaces the connection. While the
// connection is not connected, Publish fails messages at once with
// [ErrUnavailable] instead of buffering them in the client (unless
// [Config.PublishWhileReconnecting]), so a relay backs off and retries
// rather than piling messages into the reconnect buffer. Messages whose
// PubAck was pending when the connection dropped fail with [ErrUnavailable];
// republishing them is safe because of Nats-Msg-Id.
package nats

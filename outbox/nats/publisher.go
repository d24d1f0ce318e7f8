package nats

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

// Config configures a [Publisher]. The zero value is ready to use.
type Config struct {
	// Subject returns the subject to publish m to. Default: m.Topic.
	Subject func(m *outbox.Message) string
	// Stream, when set, is sent in the Nats-Expected-Stream header: a
	// message whose subject is not stored by that stream is rejected
	// ([ErrRejected]) instead of landing in another stream.
	Stream string
	// MaxInFlight bounds the messages published and not yet acknowledged,
	// over all concurrent calls of Publish. Default 1024.
	MaxInFlight int
	// AckTimeout bounds the wait for one PubAck; a message without one
	// fails with [ErrTimeout]. Default 5s.
	AckTimeout time.Duration
	// PublishWhileReconnecting, when true, hands messages to the client
	// even while it is reconnecting, to be flushed from its reconnect
	// buffer later (they fail with ErrTimeout if that takes longer than
	// AckTimeout). By default such messages fail at once with
	// [ErrUnavailable].
	PublishWhileReconnecting bool
}

// Publisher publishes outbox messages to JetStream and waits for their
// PubAcks. It implements [outbox.Publisher]. Create one with [New]; it is
// safe for concurrent use. Close releases its reply subscription.
type Publisher struct {
	nc     *natsgo.Conn
	js     jetstream.JetStream
	cfg    Config
	slots  chan struct{} // one token per message in flight
	tick   time.Duration // how often Publish checks its messages in flight
	closed atomic.Bool

	mu      sync.Mutex
	pending map[*natsgo.Msg]waiter
}

// waiter is where the outcome of a message in flight goes.
type waiter struct {
	results chan<- result
	idx     int32
}

type result struct {
	idx int32
	err error
}

// New returns a Publisher that publishes on nc. The caller keeps ownership
// of nc: the publisher neither closes it nor changes its options. New panics
// if nc is nil or cfg is invalid.
func New(nc *natsgo.Conn, cfg Config) *Publisher {
	if nc == nil {
		panic("outbox/nats: nil connection")
	}
	if cfg.MaxInFlight < 0 {
		panic("outbox/nats: negative MaxInFlight")
	}
	if cfg.AckTimeout < 0 {
		panic("outbox/nats: negative AckTimeout")
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	p := &Publisher{
		nc:      nc,
		cfg:     cfg,
		tick:    min(cfg.AckTimeout/4, 50*time.Millisecond),
		slots:   make(chan struct{}, cfg.MaxInFlight),
		pending: make(map[*natsgo.Msg]waiter),
	}
	js, err := jetstream.New(nc,
		// MaxInFlight is enforced here; the client keeps messages a call
		// gave up on until their AckTimeout, which must not stall it.
		jetstream.WithPublishAsyncMaxPending(1<<20),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *natsgo.Msg, _ *jetstream.PubAck) {
			p.resolve(m, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *natsgo.Msg, err error) {
			p.resolve(m, err)
		}),
	)
	if err != nil {
		panic("outbox/nats: " + err.Error())
	}
	p.js = js
	return p
}

// resolve delivers the outcome of m to the Publish call that sent it. It is
// called by the client's handlers, at most once per message.
func (p *Publisher) resolve(m *natsgo.Msg, err error) {
	p.mu.Lock()
	w, ok := p.pending[m]
	delete(p.pending, m)
	p.mu.Unlock()
	if !ok {
		return
	}
	<-p.slots
	w.results <- result{w.idx, err} // buffered for every message of the call
}

// Close releases the publisher's reply subscription on the connection.
// Messages still waiting for a PubAck fail with [ErrUnavailable], and later
// calls of Publish report [ErrClosed] (matching [outbox.ErrNotSent]) for
// every message. Close does not close the connection.
func (p *Publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.js.CleanupPublisher()
	return nil
}

// tracked is what Publish needs to give up on a message in flight by itself:
// the client's handlers are not called for messages in flight when the
// connection drops (nats.go defers those calls until the connection
// closes), and a message may wait in the reconnect buffer.
type tracked struct {
	deadline time.Time // sent + AckTimeout
	epoch    uint64    // reconnects of the connection when sent
	live     bool      // sent while connected
}

// call is the state of one Publish.
type call struct {
	*publish.Call
	out     []natsgo.Msg
	track   []tracked
	results chan result
}

// Publish implements [outbox.Publisher]: it publishes msgs and writes the
// outcome of msgs[i] to errs[i] — nil once JetStream acknowledged it. It
// returns when every message has an outcome or ctx ends, whichever comes
// first. It panics if len(errs) != len(msgs).
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	if len(errs) != len(msgs) {
		panic("outbox/nats: len(errs) != len(msgs)")
	}
	if len(msgs) == 0 {
		return
	}
	if p.closed.Load() {
		for i := range errs {
			errs[i] = publish.NotSent{Prefix: prefix, Cause: ErrClosed}
		}
		return
	}
	c := &call{
		Call:    publish.NewCall(msgs, errs),
		out:     make([]natsgo.Msg, len(msgs)),
		track:   make([]tracked, len(msgs)),
		results: make(chan result, len(msgs)),
	}
	publish.Pipeline(ctx, c.Call, p.slots, p.tick, c.results,
		func(i int) { p.send(c, int32(i)) },
		func(r result) { p.outcome(c, r) },
		func() { p.check(c) },
		func(cause error) { p.abort(c, cause) })
}

// send publishes message i; the caller holds a slot for it.
func (p *Publisher) send(c *call, i int32) {
	msg := &c.Msgs[i]
	m := &c.out[i]
	if p.cfg.Subject != nil {
		m.Subject = p.cfg.Subject(msg)
	} else {
		m.Subject = msg.Topic
	}
	m.Data = msg.Payload
	n := len(msg.Headers) + 2
	m.Header = make(natsgo.Header, n)
	vals := make([]string, 0, n) // one backing array for all header values
	set := func(k, v string) {
		vals = append(vals, v)
		m.Header[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for k, v := range msg.Headers {
		set(k, v)
	}
	if msg.ID != "" {
		set(jetstream.MsgIDHeader, msg.ID)
	}
	if p.cfg.Stream != "" {
		set(jetstream.ExpectedStreamHeader, p.cfg.Stream)
	}

	if !p.cfg.PublishWhileReconnecting && !p.nc.IsConnected() {
		<-p.slots
		cause := natsgo.ErrDisconnected
		if p.nc.IsClosed() {
			cause = natsgo.ErrConnectionClosed
		}
		c.Fail(int(i), &Error{ID: msg.ID, Subject: m.Subject, Err: cause, kind: ErrUnavailable})
		return
	}
	c.track[i] = tracked{
		deadline: time.Now().Add(p.cfg.AckTimeout),
		epoch:    p.nc.Stats().Reconnects,
		live:     p.nc.IsConnected(),
	}
	p.mu.Lock()
	p.pending[m] = waiter{results: c.results, idx: i}
	p.mu.Unlock()
	c.Sent(int(i))
	if _, err := p.js.PublishMsgAsync(m); err != nil {
		p.giveUp(c, i, err)
	}
}

// giveUp ends the wait for message i with err, unless a handler resolved it
// in the meantime.
func (p *Publisher) giveUp(c *call, i int32, err error) {
	m := &c.out[i]
	p.mu.Lock()
	_, ok := p.pending[m]
	delete(p.pending, m)
	p.mu.Unlock()
	if ok {
		<-p.slots
		c.results <- result{i, err} // buffered for every message of the call
	}
}

// check fails the messages in flight whose PubAck can no longer come: sent
// on a connection that has dropped since, or past their AckTimeout.
func (p *Publisher) check(c *call) {
	now := time.Now()
	reconnects := p.nc.Stats().Reconnects
	connected := p.nc.IsConnected()
	for i := range c.track {
		if !c.InFlight(i) {
			continue
		}
		tr := &c.track[i]
		switch {
		case tr.live && (!connected || reconnects != tr.epoch):
			p.giveUp(c, int32(i), natsgo.ErrDisconnected)
		case !now.Before(tr.deadline):
			p.giveUp(c, int32(i), jetstream.ErrAsyncPublishTimeout)
		}
	}
}

// outcome records the outcome of a message that was in flight.
func (p *Publisher) outcome(c *call, r result) {
	if r.err == nil {
		c.Acked(int(r.idx))
		return
	}
	msg := &c.Msgs[r.idx]
	c.Fail(int(r.idx), &Error{ID: msg.ID, Subject: c.out[r.idx].Subject, Err: r.err, kind: kindOf(r.err)})
}

// abort gives every message without an outcome the context's error.
func (p *Publisher) abort(c *call, cause error) {
	c.Abort(prefix, cause, func(i int) error {
		// Abandoned: free its slot now (the client may never call back for
		// it), a late PubAck is ignored.
		p.mu.Lock()
		_, ok := p.pending[&c.out[i]]
		delete(p.pending, &c.out[i])
		p.mu.Unlock()
		if ok {
			<-p.slots
		}
		return &Error{ID: c.Msgs[i].ID, Subject: c.out[i].Subject, Err: cause}
	})
}

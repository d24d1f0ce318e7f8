package rabbitmq

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

// Config configures a [Publisher]. The zero value is ready to use.
type Config struct {
	// Exchange receives the messages. Default "" (the default exchange,
	// which routes a message to the queue named by its routing key).
	Exchange string
	// RoutingKey returns the routing key of m. Default: m.Topic.
	RoutingKey func(m *outbox.Message) string
	// MaxInFlight bounds the messages published and not yet confirmed,
	// over all concurrent calls of Publish. Default 1024.
	MaxInFlight int
	// AckTimeout bounds the wait for one publisher confirm; a message
	// without one fails with [ErrTimeout]. Default 5s.
	AckTimeout time.Duration
	// AllowUnroutable, when true, publishes without the mandatory flag: a
	// message no queue takes is confirmed and dropped by the broker. By
	// default it fails with [ErrUnroutable].
	AllowUnroutable bool
	// Dial, when set, opens a new connection after the current one was
	// closed. Connections it returns belong to the publisher, which closes
	// them in Close. When nil, a closed connection makes every Publish fail
	// with [ErrUnavailable] until the publisher is replaced.
	Dial func(ctx context.Context) (*amqp.Connection, error)
}

// Publisher publishes outbox messages to RabbitMQ with publisher confirms.
// It implements [outbox.Publisher]. Create one with [New]; it is safe for
// concurrent use. It runs one goroutine per open channel to read confirms;
// Close stops it.
type Publisher struct {
	cfg   Config
	slots chan struct{} // one token per message in flight
	tick  time.Duration

	mu     sync.Mutex
	conn   *amqp.Connection
	owned  bool // conn came from Dial
	pc     *pubChannel
	closed bool
}

// New returns a Publisher on conn. The caller keeps ownership of conn: the
// publisher opens and closes channels on it but never closes it. New panics
// if conn is nil or cfg is invalid. The channel is opened by the first
// Publish.
func New(conn *amqp.Connection, cfg Config) *Publisher {
	if conn == nil {
		panic("outbox/rabbitmq: nil connection")
	}
	if cfg.MaxInFlight < 0 {
		panic("outbox/rabbitmq: negative MaxInFlight")
	}
	if cfg.AckTimeout < 0 {
		panic("outbox/rabbitmq: negative AckTimeout")
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	return &Publisher{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInFlight),
		tick:  min(cfg.AckTimeout/4, 50*time.Millisecond),
		conn:  conn,
	}
}

// Close closes the publisher's channel (messages waiting for a confirm fail
// with [ErrUnavailable]) and any connection it dialed itself. Later calls of
// Publish report [ErrClosed] (matching [outbox.ErrNotSent]) for every
// message. Close does not close the connection given to New.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.pc != nil {
		p.pc.close()
		p.pc = nil
	}
	if p.owned {
		return p.conn.Close()
	}
	return nil
}

// channel returns an open channel, opening one (and dialing a connection)
// if needed.
func (p *Publisher) channel(ctx context.Context) (*pubChannel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.pc != nil {
		if !p.pc.isDead() {
			return p.pc, nil
		}
		p.pc.close()
		p.pc = nil
	}
	if p.conn.IsClosed() {
		if p.cfg.Dial == nil {
			return nil, amqp.ErrClosed
		}
		conn, err := p.cfg.Dial(ctx)
		if err != nil {
			return nil, err
		}
		p.conn, p.owned = conn, true
	}
	pc, err := openChannel(p.conn, func() { <-p.slots })
	if err != nil {
		return nil, err
	}
	p.pc = pc
	return pc, nil
}

// call is the state of one Publish.
type call struct {
	*publish.Call
	keys     []string    // routing keys
	deadline []time.Time // of the confirm, for messages in flight
	sentOn   []*pubChannel
	tags     []uint64
	results  chan result
}

// Publish implements [outbox.Publisher]: it publishes msgs and writes the
// outcome of msgs[i] to errs[i] — nil once the broker confirmed it. It
// returns when every message has an outcome or ctx ends, whichever comes
// first. It panics if len(errs) != len(msgs).
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	if len(errs) != len(msgs) {
		panic("outbox/rabbitmq: len(errs) != len(msgs)")
	}
	n := len(msgs)
	if n == 0 {
		return
	}
	c := &call{
		Call:     publish.NewCall(msgs, errs),
		keys:     make([]string, n),
		deadline: make([]time.Time, n),
		sentOn:   make([]*pubChannel, n),
		tags:     make([]uint64, n),
		results:  make(chan result, n),
	}
	for i := range msgs {
		if p.cfg.RoutingKey != nil {
			c.keys[i] = p.cfg.RoutingKey(&msgs[i])
		} else {
			c.keys[i] = msgs[i].Topic
		}
	}
	publish.Pipeline(ctx, c.Call, p.slots, p.tick, c.results,
		func(i int) { p.send(ctx, c, int32(i)) },
		func(r result) { p.outcome(c, r) },
		func() { p.expire(c) },
		func(cause error) { p.abort(c, cause) })
}

// send publishes message i; the caller holds a slot for it.
func (p *Publisher) send(ctx context.Context, c *call, i int32) {
	msg := &c.Msgs[i]
	pc, err := p.channel(ctx)
	if err != nil {
		<-p.slots
		if errors.Is(err, ErrClosed) {
			c.FailKey(int(i), publish.NotSent{Prefix: prefix, Cause: ErrClosed})
			return
		}
		c.Fail(int(i), &Error{ID: msg.ID, RoutingKey: c.keys[i], Err: err, kind: ErrUnavailable})
		return
	}
	pub := amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID,
		Timestamp:    msg.CreatedAt,
		Body:         msg.Payload,
	}
	if len(msg.Headers) > 0 {
		pub.Headers = make(amqp.Table, len(msg.Headers))
		for k, v := range msg.Headers {
			pub.Headers[k] = v
		}
	}
	if !msg.ExpiresAt.IsZero() {
		if ttl := time.Until(msg.ExpiresAt); ttl > 0 {
			pub.Expiration = strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
		}
	}

	pc.pubMu.Lock()
	tag := pc.ch.GetNextPublishSeqNo()
	if !pc.register(tag, waiter{results: c.results, idx: i, id: msg.ID}) {
		pc.pubMu.Unlock()
		<-p.slots
		c.Fail(int(i), &Error{ID: msg.ID, RoutingKey: c.keys[i], Err: errChannelGone, kind: ErrUnavailable})
		return
	}
	c.Sent(int(i))
	c.sentOn[i], c.tags[i] = pc, tag
	c.deadline[i] = time.Now().Add(p.cfg.AckTimeout)
	err = pc.ch.Publish(p.cfg.Exchange, c.keys[i], !p.cfg.AllowUnroutable, false, pub)
	pc.pubMu.Unlock()
	if err != nil && pc.forget(tag) {
		<-p.slots
		c.results <- result{idx: i, kind: ErrUnavailable, cause: err}
	}
}

// expire fails the messages in flight past their AckTimeout.
func (p *Publisher) expire(c *call) {
	now := time.Now()
	for i := range c.Msgs {
		if c.InFlight(i) && !now.Before(c.deadline[i]) {
			if c.sentOn[i].forget(c.tags[i]) {
				<-p.slots
				c.results <- result{idx: int32(i), kind: ErrTimeout, cause: errNoConfirm}
			}
		}
	}
}

// outcome records the outcome of a message that was in flight.
func (p *Publisher) outcome(c *call, r result) {
	if r.kind == nil && r.cause == nil {
		c.Acked(int(r.idx))
		return
	}
	c.Fail(int(r.idx), &Error{ID: c.Msgs[r.idx].ID, RoutingKey: c.keys[r.idx], Err: r.cause, kind: r.kind})
}

// abort gives every message without an outcome the context's error.
func (p *Publisher) abort(c *call, cause error) {
	c.Abort(prefix, cause, func(i int) error {
		// Abandoned: free its slot now, a late confirm is ignored.
		if c.sentOn[i].forget(c.tags[i]) {
			<-p.slots
		}
		return &Error{ID: c.Msgs[i].ID, RoutingKey: c.keys[i], Err: cause}
	})
}

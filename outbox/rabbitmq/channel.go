package rabbitmq

import (
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

// pubChannel is one AMQP channel in confirm mode and the messages waiting
// for its confirms. A goroutine (drain) reads the confirms and returns of the
// channel until it closes.
type pubChannel struct {
	ch      *amqp.Channel
	release func() // frees the slot of a message in flight

	pubMu sync.Mutex // serializes (next delivery tag, publish)

	mu      sync.Mutex
	pending map[uint64]waiter // by delivery tag
	dead    bool              // closed: no more registrations

	returned map[string]amqp.Return // by message ID; drain only
	done     chan struct{}          // closed when drain returns
}

// waiter is where the outcome of a message in flight goes.
type waiter struct {
	results chan<- result
	idx     int32
	id      string
}

type result struct {
	idx   int32
	kind  *publish.Kind
	cause error
}

func openChannel(conn *amqp.Connection, release func()) (*pubChannel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	pc := &pubChannel{
		ch:       ch,
		release:  release,
		pending:  make(map[uint64]waiter),
		returned: make(map[string]amqp.Return),
		done:     make(chan struct{}),
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 256))
	returns := ch.NotifyReturn(make(chan amqp.Return, 64))
	go pc.drain(confirms, returns)
	return pc, nil
}

// drain resolves messages as their confirms arrive, until the channel
// closes; then it fails the messages still waiting.
func (pc *pubChannel) drain(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return) {
	defer close(pc.done)
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			pc.returned[r.MessageId] = r
		case c, ok := <-confirms:
			if !ok {
				pc.failAll()
				return
			}
			// The client hands a basic.return over before the confirm of
			// the same message: take the returns already there.
		more:
			for returns != nil {
				select {
				case r, ok := <-returns:
					if !ok {
						returns = nil
						break more
					}
					pc.returned[r.MessageId] = r
				default:
					break more
				}
			}
			pc.confirm(c)
		}
	}
}

func (pc *pubChannel) confirm(c amqp.Confirmation) {
	pc.mu.Lock()
	w, ok := pc.pending[c.DeliveryTag]
	delete(pc.pending, c.DeliveryTag)
	pc.mu.Unlock()
	if !ok {
		return
	}
	r := result{idx: w.idx}
	if ret, returned := pc.returned[w.id]; returned && w.id != "" {
		delete(pc.returned, w.id)
		r.kind, r.cause = ErrUnroutable, fmt.Errorf(errReturnedCode, ret.ReplyCode, ret.ReplyText)
	} else if !c.Ack {
		r.kind, r.cause = ErrRejected, errNack
	}
	pc.release()
	w.results <- r // buffered for every message of the call
}

// failAll fails every message still waiting: the channel is gone.
func (pc *pubChannel) failAll() {
	pc.mu.Lock()
	pc.dead = true
	pending := pc.pending
	pc.pending = nil
	pc.mu.Unlock()
	for _, w := range pending {
		pc.release()
		w.results <- result{idx: w.idx, kind: ErrUnavailable, cause: errChannelGone}
	}
}

// register records w as waiting for the confirm of tag; false if the
// channel is already closed.
func (pc *pubChannel) register(tag uint64, w waiter) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead {
		return false
	}
	pc.pending[tag] = w
	return true
}

// forget stops waiting for tag; false if it was resolved meanwhile.
func (pc *pubChannel) forget(tag uint64) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	_, ok := pc.pending[tag]
	delete(pc.pending, tag)
	return ok
}

func (pc *pubChannel) isDead() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.dead || pc.ch.IsClosed()
}

// close closes the channel and waits for drain to fail what was waiting.
func (pc *pubChannel) close() {
	_ = pc.ch.Close()
	<-pc.done
}

package publish

import (
	"context"
	"time"

	"github.com/resiliencekit/resilience/outbox"
)

// States of a message in a Call.
const (
	unsent uint8 = iota
	inFlight
	acked
)

// Call is the bookkeeping of one Publish call of a publisher that
// pipelines: the outcome of every message (Errs, the caller's errs), which
// ones are in flight, and the KeyOrder that says which may be sent next.
// A Call is used by the goroutine running Publish; it is not safe for
// concurrent use.
type Call struct {
	Msgs []outbox.Message
	Errs []error

	state []uint8
	order *KeyOrder
	done  int // messages with an outcome
}

// NewCall returns the bookkeeping of Publish(ctx, msgs, errs); it clears
// errs.
func NewCall(msgs []outbox.Message, errs []error) *Call {
	clear(errs)
	return &Call{Msgs: msgs, Errs: errs, state: make([]uint8, len(msgs)), order: NewKeyOrder(msgs)}
}

// Sent records that message i was handed to the broker's client.
func (c *Call) Sent(i int) { c.state[i] = inFlight }

// InFlight reports whether message i was sent and has no outcome yet.
func (c *Call) InFlight(i int) bool { return c.state[i] == inFlight && c.Errs[i] == nil }

// Acked records that the broker acknowledged message i, which makes the
// next message of its key ready.
func (c *Call) Acked(i int) {
	c.state[i] = acked
	c.done++
	c.order.Acked(i)
}

// Fail records err as the outcome of message i and outbox.ErrNotSent as
// that of every later message of its key.
func (c *Call) Fail(i int, err error) {
	c.Errs[i] = err
	c.done++
	c.order.Failed(i, func(j int) {
		c.Errs[j] = outbox.ErrNotSent
		c.done++
	})
}

// FailKey records err as the outcome of message i and of every later
// message of its key, for a failure that is none of theirs either (the
// publisher was closed).
func (c *Call) FailKey(i int, err error) {
	c.Errs[i] = err
	c.done++
	c.order.Failed(i, func(j int) {
		c.Errs[j] = err
		c.done++
	})
}

// Done reports whether every message has an outcome.
func (c *Call) Done() bool { return c.done == len(c.Msgs) }

// Abort gives every message without an outcome one: abandon(i) for a
// message in flight (which frees its slot and returns its error),
// NotSent{prefix, cause} for a message never sent.
func (c *Call) Abort(prefix string, cause error, abandon func(i int) error) {
	for i := range c.Msgs {
		switch {
		case c.Errs[i] != nil, c.state[i] == acked:
		case c.state[i] == inFlight:
			c.Errs[i] = abandon(i)
		default:
			c.Errs[i] = NotSent{Prefix: prefix, Cause: cause}
		}
	}
}

// Pipeline runs c until every message has an outcome or ctx ends. It
// sends each message the KeyOrder makes ready with send once it holds a
// slot (a token put into slots, shared by the calls of one publisher and
// bounding the messages in flight; whoever gives a sent message its
// outcome takes the token back), hands each result arriving on results to
// outcome, and calls check every tick (to give up on messages whose
// acknowledgement can no longer come). When ctx ends it hands the results
// that already arrived to outcome, then calls abort with ctx's error.
func Pipeline[R any](ctx context.Context, c *Call, slots chan struct{}, tick time.Duration,
	results <-chan R, send func(i int), outcome func(R), check func(), abort func(cause error)) {
	stop := func(cause error) {
		for {
			select {
			case r := <-results:
				outcome(r) // outcomes that already arrived are kept
				continue
			default:
			}
			break
		}
		abort(cause)
	}
	var ticker *time.Ticker
	for !c.Done() {
		if err := ctx.Err(); err != nil {
			stop(err)
			return
		}
		// Send what is ready while there are free slots.
		for c.order.Ready() > 0 {
			select {
			case slots <- struct{}{}:
				send(c.order.Pop())
				continue
			default:
			}
			break
		}
		if c.Done() {
			return
		}
		var free chan struct{}
		if c.order.Ready() > 0 {
			free = slots
		}
		if ticker == nil {
			ticker = time.NewTicker(tick)
			defer ticker.Stop()
		}
		select {
		case r := <-results:
			outcome(r)
		case <-ticker.C:
			check()
		case free <- struct{}{}:
			if ctx.Err() != nil {
				<-slots
				continue // stop at the top of the loop
			}
			send(c.order.Pop())
		case <-ctx.Done():
			stop(ctx.Err())
			return
		}
	}
}

// NotSent is the outcome of a message that was never sent because the call
// ended first (a cancelled context, a closed publisher): it matches
// outbox.ErrNotSent and its cause.
type NotSent struct {
	Prefix string // of the publisher's errors, such as "outbox/nats"
	Cause  error
}

// Error returns "prefix: not sent: cause".
func (e NotSent) Error() string { return e.Prefix + ": not sent: " + e.Cause.Error() }

// Is reports whether target is outbox.ErrNotSent.
func (e NotSent) Is(target error) bool { return target == outbox.ErrNotSent }

// Unwrap returns the cause.
func (e NotSent) Unwrap() error { return e.Cause }

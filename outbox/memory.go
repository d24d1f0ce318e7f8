package outbox

import (
	"context"
	"sync"
)

// PublisherFunc adapts a function that delivers one message to a
// Publisher. Publish calls it for each message in turn, in the order given,
// and keeps the contract of Publisher: once a message fails, the later
// messages of its key get ErrNotSent without a call; once ctx is done, the
// messages not yet delivered get ctx's error. It suits in-process delivery,
// such as a consumer that applies events with an Inbox in the same
// process.
type PublisherFunc func(ctx context.Context, m Message) error

// Publish implements Publisher.
func (f PublisherFunc) Publish(ctx context.Context, msgs []Message, errs []error) {
	var failedKeys map[string]struct{}
	for i := range msgs {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, ok := failedKeys[msgs[i].Key]; ok {
			errs[i] = ErrNotSent
			continue
		}
		if errs[i] = f(ctx, msgs[i]); errs[i] != nil {
			if failedKeys == nil {
				failedKeys = make(map[string]struct{})
			}
			failedKeys[msgs[i].Key] = struct{}{}
		}
	}
}

// MemoryPublisher is an in-process Publisher that keeps every message it is
// given, in order: the broker of tests and of the embedded quickstart.
// Create it with NewMemoryPublisher. It is safe for concurrent use.
type MemoryPublisher struct {
	mu      sync.Mutex
	msgs    []Message
	fail    func(Message) error
	changed chan struct{} // closed and replaced when msgs grows
}

// NewMemoryPublisher returns an empty MemoryPublisher that accepts every
// message.
func NewMemoryPublisher() *MemoryPublisher {
	return &MemoryPublisher{changed: make(chan struct{})}
}

// SetFailure makes Publish fail each message for which f returns an error,
// with that error, from now on; nil accepts every message again. Use it to
// inject broker failures and poison messages in tests.
func (p *MemoryPublisher) SetFailure(f func(Message) error) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// Publish implements Publisher: it appends each message to the log, unless
// the failure function set by SetFailure fails it (later messages of its
// key then get ErrNotSent) or ctx is done.
func (p *MemoryPublisher) Publish(ctx context.Context, msgs []Message, errs []error) {
	p.mu.Lock()
	fail := p.fail
	p.mu.Unlock()
	var accepted []Message
	PublisherFunc(func(_ context.Context, m Message) error {
		if fail != nil {
			if err := fail(m); err != nil {
				return err
			}
		}
		accepted = append(accepted, m)
		return nil
	}).Publish(ctx, msgs, errs)
	if len(accepted) == 0 {
		return
	}
	p.mu.Lock()
	p.msgs = append(p.msgs, accepted...)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Messages returns a copy of the log of published messages, in the order
// they were published.
func (p *MemoryPublisher) Messages() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Message(nil), p.msgs...)
}

// Len returns how many messages were published.
func (p *MemoryPublisher) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// Wait blocks until at least n messages were published, then returns the
// log as Messages does; or returns ctx's error when ctx ends first.
func (p *MemoryPublisher) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		p.mu.Lock()
		if len(p.msgs) >= n {
			out := append([]Message(nil), p.msgs...)
			p.mu.Unlock()
			return out, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

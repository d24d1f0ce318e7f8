package outbox

import "sync"

// Notifier wakes relays when messages may have been committed, so that a
// relay need not poll often to publish them within milliseconds. The relay
// still polls every RelayConfig.PollInterval, so a lost notification only
// delays a message; notifications are hints, never needed for correctness.
//
// outbox/postgres implements it with LISTEN/NOTIFY. LocalNotifier is one
// for a process that commits its own transactions: call Notify after a
// commit.
type Notifier interface {
	// Subscribe returns a channel that receives a value after messages may
	// have been committed, and a function that ends the subscription.
	// Notifications coalesce: the channel has a buffer of one and a
	// notification that finds it full is dropped, since the relay reads
	// everything that is due when it wakes. A relay subscribes when Run
	// starts and ends the subscription when Run returns. Implementations
	// must be safe for concurrent use.
	Subscribe() (c <-chan struct{}, cancel func())
}

// LocalNotifier is a Notifier for one process: Notify wakes every relay
// subscribed to it. Create it with NewLocalNotifier; it is safe for
// concurrent use.
type LocalNotifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// NewLocalNotifier returns a LocalNotifier with no subscriber.
func NewLocalNotifier() *LocalNotifier {
	return &LocalNotifier{subs: make(map[chan struct{}]struct{})}
}

// Subscribe implements Notifier.
func (n *LocalNotifier) Subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[c] = struct{}{}
	n.mu.Unlock()
	return c, func() {
		n.mu.Lock()
		delete(n.subs, c)
		n.mu.Unlock()
	}
}

// Notify wakes every subscriber. Call it after committing a transaction
// that added messages. It never blocks.
func (n *LocalNotifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

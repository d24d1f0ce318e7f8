package bulkhead

import (
	"time"

	"github.com/resiliencekit/resilience"
)

// waitState is where a queued call stands. It is written under the
// bulkhead's mutex and read by the waiter after it holds the mutex or has
// received from ready.
type waitState uint8

const (
	queued   waitState = iota // in the queue
	granted                   // handed a permit by a releasing call
	refused                   // pushed out of a full queue by a call to be served before it
	timedOut                  // waited MaxWait in vain
)

// waiter is one call waiting for a permit.
type waiter struct {
	prev, next *waiter
	ready      chan struct{} // receives one value when state leaves queued
	since      time.Time     // when the call started to wait
	state      waitState
	class      uint8  // the call's criticality, as an index of classQueue.q
	s          *shard // the shard of the permit granted
}

// waitQueue is a doubly linked list of waiters: pushed at the back, taken
// from the front (FIFO) or the back (LIFO), and removed from anywhere when a
// waiter gives up.
type waitQueue struct {
	head, tail *waiter
	len        int
}

func (q *waitQueue) pushBack(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.len++
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.len--
}

// classQueue holds the queued calls of a bulkhead by criticality
// (resilience.CriticalityFrom of their context): the calls of a higher
// criticality get permits before any of a lower one, and when the queue
// is full the call that would be served last gives its place up to a call
// that would be served before it. Within one criticality the order is the
// bulkhead's: FIFO or LIFO.
type classQueue struct {
	q   [3]waitQueue // Sheddable, DefaultCriticality, Critical
	len int
}

// classOf returns the index of criticality c in classQueue.q.
func classOf(c resilience.Criticality) uint8 {
	return uint8(min(max(c, resilience.Sheddable), resilience.Critical) - resilience.Sheddable)
}

func (cq *classQueue) push(w *waiter) {
	cq.q[w.class].pushBack(w)
	cq.len++
}

func (cq *classQueue) remove(w *waiter) {
	cq.q[w.class].remove(w)
	cq.len--
}

// first returns the waiter to serve next; the queue must not be empty.
func (cq *classQueue) first(lifo bool) *waiter {
	for i := len(cq.q) - 1; ; i-- {
		if q := &cq.q[i]; q.len > 0 {
			if lifo {
				return q.tail
			}
			return q.head
		}
	}
}

// last returns the waiter that would be served last; the queue must not be
// empty.
func (cq *classQueue) last(lifo bool) *waiter {
	for i := 0; ; i++ {
		if q := &cq.q[i]; q.len > 0 {
			if lifo {
				return q.head
			}
			return q.tail
		}
	}
}

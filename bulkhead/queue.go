package bulkhead

import "time"

// waitState is where a queued call stands. It is written under the
// bulkhead's mutex and read by the waiter after it holds the mutex or has
// received from ready.
type waitState uint8

const (
	queued  waitState = iota // in the queue
	granted                  // handed a permit by a releasing call
	refused                  // pushed out of a full LIFO queue by a newer call
)

// waiter is one call waiting for a permit.
type waiter struct {
	prev, next *waiter
	ready      chan struct{} // receives one value when state leaves queued
	since      time.Time     // when the call started to wait
	state      waitState
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

// popFront removes and returns the oldest waiter; the queue must not be
// empty.
func (q *waitQueue) popFront() *waiter {
	w := q.head
	q.remove(w)
	return w
}

// popBack removes and returns the newest waiter; the queue must not be
// empty.
func (q *waitQueue) popBack() *waiter {
	w := q.tail
	q.remove(w)
	return w
}

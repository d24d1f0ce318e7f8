package publish

import "github.com/resiliencekit/resilience/outbox"

// KeyOrder schedules the messages of one Publish call for a publisher that
// pipelines: it keeps the Publisher contract's ordering rule — a message is
// sent only after the previous message of its key was acknowledged, and
// none after one of its key failed — while messages of different keys go
// out together. Call and Pipeline use it for outbox/nats and
// outbox/rabbitmq.
//
// A KeyOrder is used by one goroutine; it is not safe for concurrent use.
type KeyOrder struct {
	next  []int32 // next[i]: index of the next message with the key of msgs[i], or -1
	ready []int32 // messages that may be sent now, in order of first appearance
}

// NewKeyOrder returns the schedule of msgs: at first, the first message of
// every key is ready.
func NewKeyOrder(msgs []outbox.Message) *KeyOrder {
	o := &KeyOrder{next: make([]int32, len(msgs)), ready: make([]int32, 0, len(msgs))}
	last := make(map[string]int32, len(msgs))
	for i := range msgs {
		o.next[i] = -1
		k := msgs[i].Key
		if j, ok := last[k]; ok {
			o.next[j] = int32(i)
		} else {
			o.ready = append(o.ready, int32(i))
		}
		last[k] = int32(i)
	}
	return o
}

// Ready returns how many messages may be sent now.
func (o *KeyOrder) Ready() int { return len(o.ready) }

// Pop removes and returns the index of the first message that may be sent
// now. It panics when none is ready (see Ready).
func (o *KeyOrder) Pop() int {
	i := o.ready[0]
	o.ready = o.ready[1:]
	return int(i)
}

// Acked records that message i was acknowledged, which makes the next
// message of its key ready.
func (o *KeyOrder) Acked(i int) {
	if j := o.next[i]; j >= 0 {
		o.ready = append(o.ready, j)
	}
}

// Failed records that message i failed: it calls notSent with the index of
// every later message of its key, none of which may be sent in this call
// (report them with outbox.ErrNotSent).
func (o *KeyOrder) Failed(i int, notSent func(j int)) {
	for j := o.next[i]; j >= 0; j = o.next[j] {
		notSent(int(j))
	}
}

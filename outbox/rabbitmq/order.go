package rabbitmq

import "github.com/resiliencekit/resilience/outbox"

// chains links the messages of one call by key: next[i] is the index of the
// next message with the key of msgs[i], or -1. ready starts as the first
// message of every key, in order of first appearance.
type chains struct {
	next  []int32
	ready []int32
}

func newChains(msgs []outbox.Message) chains {
	c := chains{next: make([]int32, len(msgs)), ready: make([]int32, 0, len(msgs))}
	last := make(map[string]int32, len(msgs))
	for i := range msgs {
		c.next[i] = -1
		k := msgs[i].Key
		if j, ok := last[k]; ok {
			c.next[j] = int32(i)
		} else {
			c.ready = append(c.ready, int32(i))
		}
		last[k] = int32(i)
	}
	return c
}

// pop removes and returns the first ready message.
func (c *chains) pop() int32 {
	i := c.ready[0]
	c.ready = c.ready[1:]
	return i
}

// acked makes the message after i ready.
func (c *chains) acked(i int32) {
	if j := c.next[i]; j >= 0 {
		c.ready = append(c.ready, j)
	}
}

// failed calls f for every later message of the key of i, which must not be
// sent any more.
func (c *chains) failed(i int32, f func(j int32)) {
	for j := c.next[i]; j >= 0; j = c.next[j] {
		f(j)
	}
}

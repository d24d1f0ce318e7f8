package publish_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

func TestKeyOrder(t *testing.T) {
	t.Parallel()
	msgs := []outbox.Message{{Key: "a"}, {Key: "b"}, {Key: "a"}, {Key: "c"}, {Key: "b"}, {Key: "a"}}
	o := publish.NewKeyOrder(msgs)
	var sent []int
	for o.Ready() > 0 {
		sent = append(sent, o.Pop())
	}
	assert.Equal(t, []int{0, 1, 3}, sent, "the first message of each key")

	o.Acked(0) // a: 2 becomes ready
	o.Acked(3) // c: no more
	assert.Equal(t, 1, o.Ready())
	assert.Equal(t, 2, o.Pop())

	var notSent []int
	o.Failed(1, func(j int) { notSent = append(notSent, j) }) // b failed: 4 must not go
	assert.Equal(t, []int{4}, notSent)
	assert.Zero(t, o.Ready())

	notSent = nil
	o.Failed(2, func(j int) { notSent = append(notSent, j) }) // a failed at 2: 5 must not go
	assert.Equal(t, []int{5}, notSent)

	empty := publish.NewKeyOrder(nil)
	assert.Zero(t, empty.Ready())
}

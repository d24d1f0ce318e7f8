package publish_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

// TestPipeline: a message is sent only after the previous one of its key
// was acknowledged, a failure leaves the later messages of its key
// unsent, and slots bound what is in flight.
func TestPipeline(t *testing.T) {
	t.Parallel()
	msgs := []outbox.Message{{Key: "a"}, {Key: "b"}, {Key: "a"}, {Key: "b"}, {Key: "c"}}
	errs := []error{errors.New("stale"), nil, nil, nil, nil}
	c := publish.NewCall(msgs, errs)
	assert.Nil(t, errs[0], "NewCall clears errs")
	slots := make(chan struct{}, 2)
	results := make(chan int, len(msgs))
	var sent []int
	boom := errors.New("boom")
	publish.Pipeline(context.Background(), c, slots, time.Second, results,
		func(i int) {
			require.Len(t, slots, 1, "send holds a slot")
			sent = append(sent, i)
			c.Sent(i)
			assert.True(t, c.InFlight(i))
			<-slots
			results <- i
		},
		func(i int) {
			if i == 1 {
				c.Fail(i, boom)
				return
			}
			c.Acked(i)
		},
		func() {},
		func(error) { t.Error("not aborted") })
	assert.True(t, c.Done())
	assert.Equal(t, []int{0, 1, 4, 2}, sent, "b/3 is never sent after b/1 failed")
	assert.ErrorIs(t, errs[1], boom)
	assert.ErrorIs(t, errs[3], outbox.ErrNotSent)
	for _, i := range []int{0, 2, 4} {
		assert.NoError(t, errs[i])
	}
}

// TestAbort: a cancelled call gives the messages in flight abandon's error
// and the others a NotSent, keeping the outcomes that arrived.
func TestAbort(t *testing.T) {
	t.Parallel()
	msgs := []outbox.Message{{Key: "a"}, {Key: "b"}, {Key: "a"}, {Key: "c"}}
	errs := make([]error, len(msgs))
	c := publish.NewCall(msgs, errs)
	ctx, cancel := context.WithCancel(context.Background())
	slots := make(chan struct{}, 10)
	results := make(chan int, len(msgs))
	abandoned := errors.New("abandoned")
	publish.Pipeline(ctx, c, slots, time.Second, results,
		func(i int) {
			c.Sent(i)
			if i == 0 {
				results <- i // acknowledged, but seen only after the cancel
			}
			if i == 3 {
				cancel()
			}
		},
		func(i int) { c.Acked(i) },
		func() {},
		func(cause error) {
			c.Abort("outbox/test", cause, func(i int) error { return abandoned })
		})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], abandoned)
	assert.ErrorIs(t, errs[3], abandoned)
	assert.ErrorIs(t, errs[2], outbox.ErrNotSent, "a/2 was never sent")
	assert.ErrorIs(t, errs[2], context.Canceled)
	assert.Equal(t, "outbox/test: not sent: context canceled", errs[2].Error())
}

// TestFailKey: the closed publisher's error goes to every later message of
// the key.
func TestFailKey(t *testing.T) {
	t.Parallel()
	msgs := []outbox.Message{{Key: "a"}, {Key: "a"}, {Key: "b"}}
	errs := make([]error, len(msgs))
	c := publish.NewCall(msgs, errs)
	closed := errors.New("closed")
	c.FailKey(0, closed)
	assert.Equal(t, []error{closed, closed, nil}, errs)
	assert.False(t, c.Done())
	c.Acked(2)
	assert.True(t, c.Done())
}

package observetest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
)

type ctxKey struct{}

var (
	retry  = resilience.Event{Kind: resilience.EventRetry, Policy: "retry", Attempt: 2}
	reject = resilience.Event{Kind: resilience.EventReject, Policy: "bulkhead", Reason: "full"}
	retry3 = resilience.Event{Kind: resilience.EventRetry, Policy: "retry", Attempt: 3}
)

// Events, Of and Take see the events in the order they came, each with its
// own context; Events and Of keep them, Take forgets them.
func TestLog(t *testing.T) {
	t.Parallel()
	var l observetest.Log
	var _ resilience.Observer = &l
	assert.Nil(t, l.Events())
	assert.Nil(t, l.Of(resilience.EventRetry))
	evs, ctxs := l.Take()
	assert.Nil(t, evs)
	assert.Nil(t, ctxs)
	assert.Nil(t, l.TakeEvents())

	ctx := func(s string) context.Context { return context.WithValue(context.Background(), ctxKey{}, s) }
	l.Observe(ctx("a"), retry)
	l.Observe(ctx("b"), reject)
	l.Observe(ctx("c"), retry3)
	assert.Equal(t, []resilience.Event{retry, reject, retry3}, l.Events())
	assert.Equal(t, []resilience.Event{retry, retry3}, l.Of(resilience.EventRetry))
	assert.Equal(t, []resilience.Event{reject}, l.Of(resilience.EventReject))
	assert.Nil(t, l.Of(resilience.EventTimeout))

	got := l.Events()
	got[0] = resilience.Event{}
	assert.Equal(t, []resilience.Event{retry, reject, retry3}, l.Events(), "Events returns a copy")

	evs, ctxs = l.Take()
	assert.Equal(t, []resilience.Event{retry, reject, retry3}, evs)
	require.Len(t, ctxs, 3)
	for i, want := range []string{"a", "b", "c"} {
		assert.Equal(t, want, ctxs[i].Value(ctxKey{}))
	}
	assert.Nil(t, l.Events(), "Take forgets")
	evs, ctxs = l.Take()
	assert.Nil(t, evs)
	assert.Nil(t, ctxs)

	l.Observe(ctx("d"), reject)
	assert.Equal(t, []resilience.Event{reject}, l.TakeEvents())
	assert.Nil(t, l.TakeEvents())
}

// On is called first, with the event's context, before the event is
// recorded and without the lock held: it may read the Log.
func TestLogOn(t *testing.T) {
	t.Parallel()
	l := &observetest.Log{}
	var seen []string
	l.On = func(ctx context.Context, e resilience.Event) {
		seen = append(seen, ctx.Value(ctxKey{}).(string)+" "+e.Kind.String())
		assert.Empty(t, l.Events(), "not recorded yet")
	}
	l.Observe(context.WithValue(context.Background(), ctxKey{}, "call"), retry)
	assert.Equal(t, []string{"call retry"}, seen)
	assert.Equal(t, []resilience.Event{retry}, l.TakeEvents())
}

// Hammer: Observe from many goroutines while others read and take; every
// event is taken exactly once, with its own context.
func TestLogConcurrent(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 500
	var l observetest.Log
	var mu sync.Mutex
	var taken []resilience.Event
	var takenCtxs []context.Context
	take := func() {
		evs, ctxs := l.Take()
		mu.Lock()
		taken = append(taken, evs...)
		takenCtxs = append(takenCtxs, ctxs...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := resilience.Event{Kind: resilience.EventAttempt, Attempt: w*each + i}
				l.Observe(context.WithValue(context.Background(), ctxKey{}, e.Attempt), e)
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_ = l.Events()
				_ = l.Of(resilience.EventAttempt)
				take()
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	take()

	require.Len(t, taken, writers*each)
	require.Len(t, takenCtxs, writers*each)
	seen := make(map[int]bool, writers*each)
	for i, e := range taken {
		assert.Equal(t, e.Attempt, takenCtxs[i].Value(ctxKey{}), "the event's own context")
		assert.False(t, seen[e.Attempt], "taken twice: %d", e.Attempt)
		seen[e.Attempt] = true
	}
}

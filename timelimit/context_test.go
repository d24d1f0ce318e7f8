package timelimit_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

// Outside a synctest bubble a TimeLimit gives op a context of its own
// (one timer per TimeLimit, not one per call). These tests run in real
// time, so that they exercise it: the time limits are short and every
// wait on the clock is a generous upper bound on a failure.

// waitDone waits for ctx's op to see its context end, within a bound.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context did not end")
	}
}

func TestOwnContextExpires(t *testing.T) {
	t.Parallel()
	l := timelimit.New(20*time.Millisecond, timelimit.Config{})
	var opCtx context.Context
	start := time.Now()
	err := l.Do(context.Background(), func(ctx context.Context) error {
		opCtx = ctx
		dl, ok := ctx.Deadline()
		assert.True(t, ok)
		assert.False(t, dl.Before(start.Add(20*time.Millisecond)), "the deadline is the limit after the call began")
		assert.False(t, dl.After(time.Now().Add(20*time.Millisecond)))
		waitDone(t, ctx)
		assert.False(t, time.Now().Before(dl), "not before its deadline")
		return ctx.Err()
	})
	require.ErrorIs(t, err, timelimit.ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, context.DeadlineExceeded, opCtx.Err())
	var te *timelimit.TimeoutError
	require.ErrorAs(t, context.Cause(opCtx), &te, "the cause is the TimeLimit's")
	assert.Equal(t, 20*time.Millisecond, te.Limit())
	assert.EqualValues(t, 1, l.Metrics().Timeouts)
}

func TestOwnContextReleased(t *testing.T) {
	t.Parallel()
	l := timelimit.New(time.Hour, timelimit.Config{})
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")
	var opCtx context.Context
	require.NoError(t, l.Do(parent, func(ctx context.Context) error {
		opCtx = ctx
		assert.Equal(t, "v", ctx.Value(key{}), "values pass through")
		return nil
	}))
	// A context kept after op returned reads as a cancelled one.
	select {
	case <-opCtx.Done():
	default:
		t.Fatal("not done after Do returned")
	}
	assert.Equal(t, context.Canceled, opCtx.Err())
	assert.Equal(t, context.Canceled, context.Cause(opCtx))
	assert.Zero(t, l.Metrics().Timeouts)
}

func TestOwnContextParentCancelled(t *testing.T) {
	t.Parallel()
	l := timelimit.New(time.Hour, timelimit.Config{})
	why := errors.New("the caller left")
	for name, lookFirst := range map[string]func(context.Context) error{
		"Done": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		"Err": func(ctx context.Context) error {
			for ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			select {
			case <-ctx.Done(): // closed before Err reports it
			default:
				t.Error("Err is not nil while Done is open")
			}
			return ctx.Err()
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(context.Background())
			var opCtx context.Context
			time.AfterFunc(10*time.Millisecond, func() { cancel(why) })
			err := l.Do(parent, func(ctx context.Context) error { opCtx = ctx; return lookFirst(ctx) })
			assert.Equal(t, context.Canceled, err, "the caller's cancellation is not a timeout")
			assert.Equal(t, context.Canceled, opCtx.Err())
			assert.Equal(t, why, context.Cause(opCtx), "the parent's cause")
		})
	}
}

// A caller's deadline earlier than the time limit is the context's
// deadline, and its expiry is the caller's, not a timeout.
func TestOwnContextCallersDeadline(t *testing.T) {
	t.Parallel()
	l := timelimit.New(time.Hour, timelimit.Config{})
	parent, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	pd, _ := parent.Deadline()
	err := l.Do(parent, func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		assert.Equal(t, pd, dl)
		<-ctx.Done()
		return ctx.Err()
	})
	assert.Equal(t, context.DeadlineExceeded, err)
	assert.NotErrorIs(t, err, timelimit.ErrTimeout)
	assert.Zero(t, l.Metrics().Timeouts)
}

// Contexts derived from op's end with it, with its cause, and
// context.AfterFunc runs or is stopped as it does on a standard context.
func TestOwnContextChildren(t *testing.T) {
	t.Parallel()
	l := timelimit.New(20*time.Millisecond, timelimit.Config{})
	var ran, stoppedRan atomic.Bool
	var stopped bool
	var child context.Context
	err := l.Do(context.Background(), func(ctx context.Context) error {
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		child = c
		w, wcancel := context.WithTimeout(ctx, time.Hour)
		defer wcancel()
		afterDone := make(chan struct{})
		context.AfterFunc(ctx, func() { ran.Store(true); close(afterDone) })
		stopDone := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { stoppedRan.Store(true); close(stopDone) })
		stopped = stop() // true unless the time limit is over already (a busy machine)
		waitDone(t, c)
		waitDone(t, w)
		for _, ch := range []chan struct{}{afterDone, stopDone} {
			if ch == stopDone && stopped {
				continue
			}
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Error("AfterFunc did not run")
			}
		}
		return c.Err()
	})
	require.ErrorIs(t, err, timelimit.ErrTimeout)
	assert.True(t, ran.Load())
	assert.Equal(t, !stopped, stoppedRan.Load(), "a stopped func does not run")
	assert.ErrorIs(t, context.Cause(child), timelimit.ErrTimeout, "the child has the TimeLimit's cause")
}

// An inner TimeLimit whose parent is an outer one's context ends when the
// outer one expires: the timeout is the outer one's.
func TestOwnContextNested(t *testing.T) {
	t.Parallel()
	outer := timelimit.New(20*time.Millisecond, timelimit.Config{})
	inner := timelimit.New(time.Hour, timelimit.Config{})
	var opCtx context.Context
	err := resilience.Chain(outer, inner).Do(context.Background(), func(ctx context.Context) error {
		opCtx = ctx
		<-ctx.Done()
		return ctx.Err()
	})
	var te *timelimit.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 20*time.Millisecond, te.Limit())
	assert.ErrorIs(t, context.Cause(opCtx), timelimit.ErrTimeout)
	assert.Zero(t, inner.Metrics().Timeouts)
	assert.EqualValues(t, 1, outer.Metrics().Timeouts)
}

// Many calls of one TimeLimit at once, in an order that makes the calls
// leave the queue from its head, its middle and its tail: every call that
// waits for its context ends with a timeout, none before its deadline;
// every call that returns at once is in time.
func TestOwnContextMany(t *testing.T) {
	t.Parallel()
	l := timelimit.New(30*time.Millisecond, timelimit.Config{})
	const calls = 400
	var wg sync.WaitGroup
	var timeouts, early, wrong atomic.Int64
	for i := range calls {
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			waits := i%2 == 0
			err := l.Do(context.Background(), func(ctx context.Context) error {
				if !waits {
					time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
					return nil
				}
				dl, _ := ctx.Deadline()
				<-ctx.Done()
				if time.Now().Before(dl) {
					early.Add(1)
				}
				return ctx.Err()
			})
			switch {
			case waits && errors.Is(err, timelimit.ErrTimeout):
				timeouts.Add(1)
			case waits, err != nil && !errors.Is(err, timelimit.ErrTimeout):
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, calls/2, timeouts.Load())
	assert.Zero(t, early.Load(), "expired before the deadline")
	assert.Zero(t, wrong.Load())
	// A call that returns at once may still be slow enough (a busy
	// machine) to time out; every wait does.
	assert.GreaterOrEqual(t, l.Metrics().Timeouts, uint64(calls/2))
}

// Under Transport the release of op's context waits for the response body
// to be closed, and the time limit still covers reading it.
func TestOwnContextTransport(t *testing.T) {
	t.Parallel()
	b := &backend{codes: []int{200}}
	client := &http.Client{Transport: resilience.Transport(b, timelimit.New(30*time.Millisecond, timelimit.Config{}))}
	resp, err := client.Get("http://example.test/")
	require.NoError(t, err)
	defer resp.Body.Close()
	ctx := b.ctxs[0]
	assert.NotEqual(t, context.Canceled, ctx.Err(), "not released by the end of the round trip")
	waitDone(t, ctx)
	_, err = resp.Body.Read(make([]byte, 1))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the time limit covers the body")
}

// An op that fails as its deadline passes, before the TimeLimit's timer
// has fired (a server enforcing the deadline it was sent), timed out:
// every time, not only when the timer happened to come first.
func TestOwnContextFailureAtTheDeadline(t *testing.T) {
	t.Parallel()
	l := timelimit.New(2*time.Millisecond, timelimit.Config{Grace: time.Hour})
	boom := errors.New("deadline enforced downstream")
	for range 100 {
		err := l.Do(context.Background(), func(ctx context.Context) error {
			dl, _ := ctx.Deadline()
			for time.Now().Before(dl) {
			}
			return boom
		})
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		require.ErrorIs(t, err, boom)
	}
	assert.EqualValues(t, 100, l.Metrics().Timeouts)
	assert.Zero(t, l.Metrics().Late)
}

package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

var (
	errBoom    = errors.New("boom")
	errIgnored = errors.New("ignored")
)

func ok(context.Context) error   { return nil }
func fail(context.Context) error { return errBoom }

// call runs op through b with a background context.
func call(b *breaker.Breaker, op func(context.Context) error) error {
	return b.Do(context.Background(), op)
}

// sleepy returns an op that takes d (of virtual time) and then returns err.
func sleepy(d time.Duration, err error) func(context.Context) error {
	return func(context.Context) error {
		time.Sleep(d)
		return err
	}
}

// requireOpen checks that err is a rejection of state st, waiting wait.
func requireOpen(t *testing.T, err error, st breaker.State, wait time.Duration) {
	t.Helper()
	require.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, st, oe.State())
	require.Equal(t, wait, oe.RetryAfter())
}

// recorder collects state changes.
type recorder struct{ ch chan [2]breaker.State }

func newRecorder() *recorder { return &recorder{ch: make(chan [2]breaker.State, 100)} }

func (r *recorder) hook(_ context.Context, from, to breaker.State) {
	r.ch <- [2]breaker.State{from, to}
}

func (r *recorder) drain() [][2]breaker.State {
	var out [][2]breaker.State
	for {
		select {
		case ev := <-r.ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// observers are the Observers the allocation tests run with: none, and
// one that does nothing.
func observers() map[string]resilience.Observer {
	return map[string]resilience.Observer{
		"no observer":    nil,
		"no-op observer": resilience.ObserverFunc(func(context.Context, resilience.Event) {}),
	}
}

// change is the EventStateChange of a breaker named name, of key key.
func change(name, key string, from, to breaker.State, err error) resilience.Event {
	return resilience.Event{
		Kind: resilience.EventStateChange, Policy: "breaker", Name: name, Key: key,
		From: from.String(), To: to.String(), Err: err,
	}
}

// rejection is the EventReject of a breaker named name, of key key.
func rejection(name, key, reason string, err error) resilience.Event {
	return resilience.Event{
		Kind: resilience.EventReject, Policy: "breaker", Name: name, Key: key,
		Reason: reason, Err: err,
	}
}

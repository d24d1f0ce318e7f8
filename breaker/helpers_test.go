package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

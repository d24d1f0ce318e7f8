package hedge_test

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/retry"
)

type boom struct{ n int }

// A panic in any attempt, on the caller's goroutine or a hedge's, reaches
// the caller of Do with its value unchanged, once every other attempt was
// cancelled and returned; the Hedge goes on serving calls afterwards.
func TestPanic(t *testing.T) {
	t.Parallel()
	v := &boom{1}
	tests := []struct {
		name    string
		steps   []step
		onHedge func(context.Context, int, error)
		wantAt  time.Duration
		causes  []error
	}{
		{"the first attempt, on the caller's goroutine, while a hedge runs",
			[]step{{latency: ms(30), panics: v}, {latency: time.Hour}}, nil, ms(30), []error{nil, hedge.ErrLost}},
		{"a hedge, on its goroutine, while the first attempt runs",
			[]step{{latency: time.Hour}, {latency: ms(10), panics: v}}, nil, ms(30), []error{hedge.ErrLost, nil}},
		{"a loser, after the winner succeeded, which ignored its cancel",
			[]step{{latency: ms(40), panics: v, ignore: true}, {latency: ms(10)}}, nil, ms(40), []error{hedge.ErrLost, nil}},
		{"the OnHedge hook",
			[]step{{latency: time.Hour}}, func(context.Context, int, error) { panic(v) }, ms(20), []error{hedge.ErrLost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := retry.NewTokenBudget(10, 1)
				h := hedge.New(hedge.Config{Delay: ms(20), OnHedge: tt.onHedge, Budget: b})
				s := newScript(tt.steps...)
				start := time.Now()
				var recovered any
				func() {
					defer func() { recovered = recover() }()
					_, _ = resilience.Do(t.Context(), h, s.op)
				}()
				assert.Same(t, v, recovered, "the panic's value, unchanged")
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Zero(t, s.active.Load(), "every attempt returned before the panic went on")
				assert.Equal(t, tt.causes, s.causesSeen())
				assert.Less(t, b.Tokens(), 10.0, "a panic is a failure for the Budget")

				ok := newScript(step{latency: ms(1)})
				_, err := resilience.Do(t.Context(), h, ok.op)
				require.NoError(t, err, "the Hedge serves calls after a panic")
			})
		})
	}
}

// A panic on the caller's goroutine keeps its stack: the frame of op that
// panicked is still on it when the caller recovers.
func TestPanicKeepsTheStack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := hedge.New(hedge.Config{Delay: ms(20)})
		var inOp bool
		func() {
			defer func() {
				_ = recover()
				inOp = callerOf("hedge_test.panickingOp")
			}()
			_ = h.Do(t.Context(), panickingOp)
		}()
		assert.True(t, inOp, "the deferred recover runs on the stack of the panic")
	})
}

//go:noinline
func panickingOp(context.Context) error { panic("boom") }

// callerOf reports whether a function whose name ends with name is on the
// stack.
func callerOf(name string) bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(0, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, name) {
			return true
		}
		if !more {
			return false
		}
	}
}

// A panic in the Budget, on the caller's goroutine (asked after the first
// attempt failed) or on a timer's (asked after the delay), goes on in the
// caller's goroutine like a panic of op; runtime.Goexit in a hedge is
// turned into a panic of the caller, since it cannot be passed on.
func TestPanicOutsideOp(t *testing.T) {
	t.Parallel()
	v := &boom{2}
	tests := []struct {
		name  string
		steps []step
		exit  bool
	}{
		{"Withdraw on the caller's goroutine", []step{{latency: ms(1), err: errTransient}}, false},
		{"Withdraw on the timer's goroutine", []step{{latency: time.Hour}}, false},
		{"runtime.Goexit in a hedge", []step{{latency: time.Hour}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := hedge.Config{Delay: ms(20), Budget: &panickyBudget{v: v}}
				if tt.exit {
					c.Budget = nil
				}
				h := hedge.New(c)
				s := newScript(tt.steps...)
				op := s.plain
				if tt.exit {
					var n atomic.Int32
					op = func(ctx context.Context) error {
						if n.Add(1) == 2 {
							runtime.Goexit()
						}
						return s.plain(ctx)
					}
				}
				var recovered any
				func() {
					defer func() { recovered = recover() }()
					_ = h.Do(t.Context(), op)
				}()
				if tt.exit {
					assert.ErrorContains(t, recovered.(error), "runtime.Goexit")
				} else {
					assert.Same(t, v, recovered)
				}
				assert.Zero(t, s.active.Load())
				ok := newScript(step{latency: ms(1)})
				require.NoError(t, hedge.New(hedge.Config{Delay: ms(20)}).Do(t.Context(), ok.plain))
			})
		})
	}
}

type panickyBudget struct{ v any }

func (panickyBudget) Request()          {}
func (panickyBudget) Success()          {}
func (panickyBudget) Failure()          {}
func (b *panickyBudget) Withdraw() bool { panic(b.v) }

package retry_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/retry"
)

// ev is an event of the Retry named "ledger".
func ev(k resilience.EventKind, attempt int, d time.Duration, err error) resilience.Event {
	return resilience.Event{Kind: k, Policy: "retry", Name: "ledger", Attempt: attempt, Duration: d, Err: err}
}

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// slowOp is an op whose attempts take 10 ms each and return errs[n] for
// attempt n (0-based), the last one for every later attempt.
func slowOp(errs ...error) func(context.Context) error {
	var n int
	return func(context.Context) error {
		time.Sleep(10 * time.Millisecond)
		err := errs[min(n, len(errs)-1)]
		n++
		return err
	}
}

// The events of each way a call ends, in virtual time: exact delays
// (JitterNone: 100 ms, then 200 ms, ...) and attempts of 10 ms.
func TestEvents(t *testing.T) {
	t.Parallel()
	perm := resilience.Permanent(fmt.Errorf("bad request"))
	tests := []struct {
		name   string
		cfg    retry.Config
		op     func(context.Context) error
		cancel time.Duration // cancel the call's context after this, if not 0
		want   func(err error) []resilience.Event
	}{
		{"success at once", retry.Config{}, slowOp(nil), 0, func(error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), nil),
				ev(resilience.EventDone, 1, msec(10), nil),
			}
		}},
		{"success on the third attempt", retry.Config{}, slowOp(errTransient, errTransient, nil), 0, func(error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				ev(resilience.EventRetry, 2, msec(100), errTransient),
				ev(resilience.EventAttempt, 2, msec(10), errTransient),
				ev(resilience.EventRetry, 3, msec(200), errTransient),
				ev(resilience.EventAttempt, 3, msec(10), nil),
				ev(resilience.EventDone, 3, msec(330), nil),
			}
		}},
		{"exhausted", retry.Config{MaxRetries: 2}, slowOp(errTransient), 0, func(err error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				ev(resilience.EventRetry, 2, msec(100), errTransient),
				ev(resilience.EventAttempt, 2, msec(10), errTransient),
				ev(resilience.EventRetry, 3, msec(200), errTransient),
				ev(resilience.EventAttempt, 3, msec(10), errTransient),
				ev(resilience.EventDone, 3, msec(330), err),
			}
		}},
		{"permanent error", retry.Config{}, slowOp(errTransient, perm), 0, func(error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				ev(resilience.EventRetry, 2, msec(100), errTransient),
				ev(resilience.EventAttempt, 2, msec(10), perm),
				ev(resilience.EventDone, 2, msec(120), perm),
			}
		}},
		{"budget refusal", retry.Config{Budget: retry.NewTokenBudget(1, 1)}, slowOp(errTransient), 0, func(err error) []resilience.Event {
			reject := ev(resilience.EventReject, 0, 0, err)
			reject.Reason = "budget"
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				reject,
				ev(resilience.EventDone, 1, msec(10), err),
			}
		}},
		{"cancelled while waiting", retry.Config{}, slowOp(errTransient), msec(60), func(error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				ev(resilience.EventRetry, 2, msec(100), errTransient),
				ev(resilience.EventDone, 1, msec(60), context.Canceled),
			}
		}},
		{"cancelled during an attempt", retry.Config{}, slowOp(errTransient), msec(5), func(error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), errTransient),
				ev(resilience.EventDone, 1, msec(10), errTransient),
			}
		}},
		{"local rejection", retry.Config{}, slowOp(rejection{}), 0, func(err error) []resilience.Event {
			return []resilience.Event{
				ev(resilience.EventAttempt, 1, msec(10), rejection{}),
				ev(resilience.EventDone, 1, msec(10), err),
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				cfg := tt.cfg
				cfg.Name, cfg.Observer, cfg.Jitter, cfg.RetryAfterJitter = "ledger", rec, retry.JitterNone, resilience.None
				r := retry.New(cfg)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tt.cancel > 0 {
					time.AfterFunc(tt.cancel, cancel)
				}
				err := r.Do(ctx, tt.op)
				assert.Equal(t, tt.want(err), rec.Events())
			})
		})
	}
}

// rejection is a local rejection, as an open breaker's.
type rejection struct{}

func (rejection) Error() string        { return "rejected" }
func (rejection) LocalRejection() bool { return true }

// What the events of an exhausted call and of a budget refusal carry: the
// very error Do returns.
func TestEventsCarryTheCallersError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		r := retry.New(retry.Config{MaxRetries: resilience.None, Observer: rec})
		err := r.Do(t.Context(), slowOp(errTransient))
		var ex *retry.ExhaustedError
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonMaxRetries, ex.Reason)
		events := rec.Events()
		require.Len(t, events, 2)
		assert.Same(t, ex, events[1].Err)

		rec = &observetest.Log{}
		r = retry.New(retry.Config{Budget: retry.NewTokenBudget(1, 1), Observer: rec})
		err = r.Do(t.Context(), slowOp(errTransient))
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, retry.ReasonBudget, ex.Reason)
		events = rec.Events()
		require.Len(t, events, 3)
		assert.Equal(t, resilience.EventReject, events[1].Kind)
		assert.Same(t, ex, events[1].Err)
		assert.Same(t, ex, events[2].Err)
		assert.Equal(t, uint64(1), r.Metrics().GaveUp[retry.ReasonBudget])
	})
}

// The Observer gets the call's context, after OnRetry, on the goroutine
// of Do.
func TestObserverContextAndOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var got []string
		r := retry.New(retry.Config{
			OnRetry: func(ctx context.Context, _ int, _ error, _ time.Duration) {
				got = append(got, "OnRetry "+ctx.Value(key{}).(string))
			},
			Observer: resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
				got = append(got, e.Kind.String()+" "+ctx.Value(key{}).(string))
			}),
		})
		ctx := context.WithValue(t.Context(), key{}, "trace-1")
		require.NoError(t, r.Do(ctx, slowOp(errTransient, nil)))
		assert.Equal(t, []string{"attempt trace-1", "OnRetry trace-1", "retry trace-1", "attempt trace-1", "done trace-1"}, got)
	})
}

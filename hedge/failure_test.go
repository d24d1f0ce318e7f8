package hedge_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/timelimit"
)

var errPermanent = resilience.Permanent(errors.New("bad request"))

// Every kind of failure, with a fixed delay of 20 ms and up to MaxHedges
// hedges: what Do returns, when, which attempts started when, and how each
// attempt's context ended (nil: live when op returned; ErrLost: cancelled
// because another attempt decided the call).
func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxHedges int
		steps     []step
		wrap      func(h *hedge.Hedge) resilience.Policy // nil: the hedge alone
		wantErr   error                                  // nil: success
		wantValue int                                    // -1: any
		wantAt    time.Duration
		starts    []time.Duration
		causes    []error
		metrics   hedge.Metrics
	}{
		{
			name: "an error starts the next hedge at once; the last error is returned", maxHedges: 2,
			steps:   []step{{latency: ms(5), err: errTransient}, {latency: ms(5), err: errTransient}, {latency: ms(5), err: errPermanent}},
			wantErr: errPermanent, wantValue: 2, wantAt: ms(15),
			starts:  []time.Duration{0, ms(5), ms(10)},
			causes:  []error{nil, nil, nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 2, HedgesOnFailure: 2},
		},
		{
			name: "every attempt fails: the last to fail is returned", maxHedges: 1,
			steps:   []step{{latency: ms(50), err: errTransient}, {latency: ms(40), err: errors.New("second")}},
			wantErr: errors.New("second"), wantValue: 1, wantAt: ms(60),
			starts:  []time.Duration{0, ms(20)},
			causes:  []error{nil, nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
		{
			name: "a failure while a hedge runs waits for it", maxHedges: 1,
			steps:     []step{{latency: ms(30), err: errTransient}, {latency: ms(30)}},
			wantValue: 1, wantAt: ms(50),
			starts:  []time.Duration{0, ms(20)},
			causes:  []error{nil, nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1},
		},
		{
			name: "a permanent error ends the call and cancels the others", maxHedges: 1,
			steps:   []step{{latency: time.Hour}, {latency: ms(5), err: errPermanent}},
			wantErr: errPermanent, wantValue: 1, wantAt: ms(25),
			starts:  []time.Duration{0, ms(20)},
			causes:  []error{hedge.ErrLost, nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
		{
			name: "a time limit per attempt: each times out, the hedge after the first", maxHedges: 1,
			steps: []step{{latency: time.Hour}, {latency: time.Hour}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				return resilience.Chain(h, timelimit.New(ms(50), timelimit.Config{}))
			},
			wantErr: timelimit.ErrTimeout, wantValue: 1, wantAt: ms(70),
			starts:  []time.Duration{0, ms(20)},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
		{
			name: "a time limit per attempt cut short by the hedge's winner", maxHedges: 1,
			steps: []step{{latency: time.Hour}, {latency: ms(10)}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				return resilience.Chain(h, timelimit.New(ms(50), timelimit.Config{}))
			},
			wantValue: 1, wantAt: ms(30),
			starts:  []time.Duration{0, ms(20)},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1, HedgeWins: 1},
		},
		{
			name: "a time limit for the whole call outside: the caller's impatience", maxHedges: 1,
			steps: []step{{latency: time.Hour}, {latency: time.Hour}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				return resilience.Chain(timelimit.New(ms(50), timelimit.Config{}), h)
			},
			wantErr: timelimit.ErrTimeout, wantValue: -1, wantAt: ms(50), // both end at once: either is last
			starts:  []time.Duration{0, ms(20)},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
		{
			name: "an open breaker inside: a local rejection starts no hedge", maxHedges: 2,
			steps: []step{{latency: ms(5)}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				b := breaker.New(breaker.Config{})
				b.ForceOpen()
				return resilience.Chain(h, b)
			},
			wantErr: breaker.ErrOpen, wantAt: 0,
			metrics: hedge.Metrics{Calls: 1},
		},
		{
			name: "an open breaker outside: the hedge is not called", maxHedges: 1,
			steps: []step{{latency: ms(5)}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				b := breaker.New(breaker.Config{})
				b.ForceOpen()
				return resilience.Chain(b, h)
			},
			wantErr: breaker.ErrOpen, wantAt: 0,
		},
		{
			name: "a full bulkhead refuses the hedge; the first attempt goes on", maxHedges: 1,
			steps: []step{{latency: ms(100)}, {latency: ms(5)}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				return resilience.Chain(h, bulkhead.New(1, bulkhead.Config{}))
			},
			wantValue: 0, wantAt: ms(100),
			starts:  []time.Duration{0},
			causes:  []error{nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
		{
			name: "a full bulkhead refuses the hedge, then the first attempt fails", maxHedges: 1,
			steps: []step{{latency: ms(100), err: errTransient}},
			wrap: func(h *hedge.Hedge) resilience.Policy {
				return resilience.Chain(h, bulkhead.New(1, bulkhead.Config{}))
			},
			wantErr: errTransient, wantValue: 0, wantAt: ms(100),
			starts:  []time.Duration{0},
			causes:  []error{nil},
			metrics: hedge.Metrics{Calls: 1, Hedges: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: tt.maxHedges})
				p := resilience.Policy(h)
				if tt.wrap != nil {
					p = tt.wrap(h)
				}
				s := newScript(tt.steps...)
				start := time.Now()
				v, err := resilience.Do(t.Context(), p, s.op)
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else if !errors.Is(err, tt.wantErr) {
					require.EqualError(t, err, tt.wantErr.Error())
				}
				if tt.wantValue >= 0 {
					assert.Equal(t, tt.wantValue, v, "the value of the attempt whose outcome Do returned")
				}
				assert.Equal(t, tt.wantAt, time.Since(start))
				if tt.starts != nil {
					assert.Equal(t, tt.starts, s.startTimes())
				}
				if tt.causes != nil {
					assert.Equal(t, tt.causes, s.causesSeen())
				}
				assert.Zero(t, s.active.Load(), "every attempt returned before Do")
				assert.Equal(t, tt.metrics, h.Metrics())
			})
		})
	}
}

// The caller cancels while the first attempt and a hedge run: both are
// cancelled (their cause is the caller's), Do waits for them, starts no
// other and returns the caller's error at once.
func TestCallerCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: 3})
		s := newScript(step{latency: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(ms(30), cancel)
		start := time.Now()
		_, err := resilience.Do(ctx, h, s.op)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, ms(30), time.Since(start))
		assert.Equal(t, []time.Duration{0, ms(20)}, s.startTimes())
		assert.Equal(t, []error{context.Canceled, context.Canceled}, s.causesSeen())
		time.Sleep(time.Minute)
		assert.Equal(t, 2, s.attempts(), "no hedge after the cancel")
	})
}

// A caller whose context is done on entry: one attempt, no hedge.
func TestCallerDoneOnEntry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := hedge.New(hedge.Config{Delay: ms(20)})
		s := newScript(step{latency: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := resilience.Do(ctx, h, s.op)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, s.attempts())
		assert.Zero(t, h.Metrics().Hedges)
	})
}

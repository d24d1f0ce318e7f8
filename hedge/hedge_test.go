package hedge_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// A fixed delay: a first attempt slower than the delay gets a hedge, which
// wins, and the first attempt is cancelled with ErrLost and waited for; one
// faster than the delay gets none.
func TestFixedDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		steps      []step
		want       int // the attempt whose value Do returns
		wantAt     time.Duration
		wantStarts []time.Duration
		wantCauses []error
	}{
		{"fast first: no hedge", []step{{latency: ms(5)}}, 0, ms(5), []time.Duration{0}, []error{nil}},
		{"slow first: the hedge wins", []step{{latency: ms(100)}, {latency: ms(10)}}, 1, ms(30),
			[]time.Duration{0, ms(20)}, []error{hedge.ErrLost, nil}},
		{"slow first still wins", []step{{latency: ms(25)}, {latency: ms(10)}}, 0, ms(25),
			[]time.Duration{0, ms(20)}, []error{nil, hedge.ErrLost}},
		{"the loser succeeds later, ignoring its cancel: the winner's value", []step{{latency: ms(100), ignore: true}, {latency: ms(10)}}, 1, ms(100),
			[]time.Duration{0, ms(20)}, []error{hedge.ErrLost, nil}},
		{"just under the delay: no hedge", []step{{latency: ms(19)}}, 0, ms(19), []time.Duration{0}, []error{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := hedge.New(hedge.Config{Delay: ms(20)})
				s := newScript(tt.steps...)
				start := time.Now()
				v, err := resilience.Do(t.Context(), h, s.op)
				require.NoError(t, err)
				assert.Equal(t, tt.want, v, "the winner's value")
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Equal(t, tt.wantStarts, s.startTimes())
				assert.Equal(t, tt.wantCauses, s.causesSeen())
				assert.Zero(t, s.active.Load(), "every attempt returned before Do")
			})
		})
	}
}

// Up to MaxHedges hedges, each a delay after the latest; with
// resilience.None, one attempt however slow.
func TestMaxHedges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxHedges int
		steps     []step
		want      int
		wantAt    time.Duration
		starts    []time.Duration
		causes    []error
	}{
		{"three hedges, the last wins", 3, []step{{latency: time.Hour}, {latency: time.Hour}, {latency: time.Hour}, {latency: ms(10)}},
			3, ms(70), []time.Duration{0, ms(20), ms(40), ms(60)}, []error{hedge.ErrLost, hedge.ErrLost, hedge.ErrLost, nil}},
		{"the delay restarts at a hedge made on a failure", 3,
			[]step{{latency: ms(5), err: errTransient}, {latency: time.Hour}, {latency: time.Hour}, {latency: ms(10)}},
			3, ms(55), []time.Duration{0, ms(5), ms(25), ms(45)}, []error{nil, hedge.ErrLost, hedge.ErrLost, nil}},
		{"no hedge", resilience.None, []step{{latency: ms(100)}}, 0, ms(100), []time.Duration{0}, []error{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: tt.maxHedges})
				s := newScript(tt.steps...)
				start := time.Now()
				v, err := resilience.Do(t.Context(), h, s.op)
				require.NoError(t, err)
				assert.Equal(t, tt.want, v)
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Equal(t, tt.starts, s.startTimes())
				assert.Equal(t, tt.causes, s.causesSeen())
			})
		})
	}
}

// A failure at the very instant the delay ends: the timer's hedge and the
// failure's hedge may come in either order, and the delay of the next one
// restarts from the latest either way.
func TestFailureAtTheDelay(t *testing.T) {
	t.Parallel()
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: 3})
			s := newScript(step{latency: ms(20), err: errTransient}, step{latency: time.Hour}, step{latency: time.Hour}, step{latency: ms(1)})
			err := h.Do(t.Context(), s.plain)
			require.NoError(t, err)
			starts := s.startTimes()
			require.Len(t, starts, 4)
			assert.Equal(t, []time.Duration{0, ms(20)}, starts[:2])
			assert.Contains(t, [][]time.Duration{{ms(20), ms(40)}, {ms(40), ms(60)}}, starts[2:])
		})
	}
}

// OnHedge is called before each hedge with the caller's context, the
// hedge's number, and the failure that started it (nil for the delay).
func TestOnHedge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type event struct {
			n     int
			err   error
			value any
			at    time.Duration
		}
		var mu sync.Mutex
		var events []event
		start := time.Now()
		h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: 2, OnHedge: func(ctx context.Context, n int, err error) {
			mu.Lock()
			events = append(events, event{n, err, ctx.Value(attemptKey{}), time.Since(start)})
			mu.Unlock()
		}})
		s := newScript(step{latency: time.Hour}, step{latency: ms(5), err: errTransient}, step{latency: ms(10)})
		ctx := context.WithValue(t.Context(), attemptKey{}, "the caller's")
		v, err := resilience.Do(ctx, h, s.op)
		require.NoError(t, err)
		assert.Equal(t, 2, v)
		assert.Equal(t, []event{{1, nil, "the caller's", ms(20)}, {2, errTransient, "the caller's", ms(25)}}, events)
		assert.Equal(t, hedge.Metrics{Calls: 1, Hedges: 2, HedgesOnFailure: 1, HedgeWins: 1}, h.Metrics())
	})
}

// The adaptive delay starts at MaxDelay, and once MinSamples attempts
// succeeded follows the Quantile of their latency, within its bounds.
func TestAdaptiveDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		c       hedge.Config
		latency time.Duration
		want    time.Duration // at least; at most 1/32 above
	}{
		{"defaults", hedge.Config{}, ms(10), ms(10)},
		{"MinDelay", hedge.Config{MinDelay: ms(50)}, ms(10), ms(50)},
		{"MaxDelay", hedge.Config{MaxDelay: ms(5)}, ms(10), ms(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := hedge.New(tt.c)
				initial := h.Delay()
				s := newScript(step{latency: tt.latency})
				for range hedge.MinSamples - 1 {
					_, err := resilience.Do(t.Context(), h, s.op)
					require.NoError(t, err)
				}
				assert.Equal(t, initial, h.Delay(), "MaxDelay until MinSamples")
				for range 100 {
					_, err := resilience.Do(t.Context(), h, s.op)
					require.NoError(t, err)
				}
				assert.GreaterOrEqual(t, h.Delay(), tt.want)
				assert.LessOrEqual(t, float64(h.Delay()), float64(tt.want)*(1+1.0/32))
			})
		})
	}
}

// A hedge inside a hedge (each attempt of the outer one is hedged in
// turn): the value is that of the attempt that won both races.
func TestNested(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		outer := hedge.New(hedge.Config{Delay: ms(20)})
		inner := hedge.New(hedge.Config{Delay: ms(5)})
		// Attempts in the order they start: outer 1 (inner 1, 2 at 5 ms),
		// outer 2 at 20 ms (inner 1; its hedge at 25 ms answers first).
		s := newScript(step{latency: time.Hour}, step{latency: time.Hour}, step{latency: time.Hour}, step{latency: ms(1)})
		v, err := resilience.Do(t.Context(), resilience.Chain(outer, inner), s.op)
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		assert.Equal(t, []time.Duration{0, ms(5), ms(20), ms(25)}, s.startTimes())
		assert.Equal(t, []error{hedge.ErrLost, hedge.ErrLost, hedge.ErrLost, nil}, s.causesSeen())
	})
}

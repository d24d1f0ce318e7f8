package hedge_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/retry"
)

// Many callers share one Hedge; attempts are fast, slow, failing,
// permanently failing, panicking or ignoring their context at random, and
// some callers give up. For every call: Do returns only after each of its
// attempts returned; a success returns the value of an attempt of that call
// that succeeded; a panic comes back with its own value. Overall: every
// hedge counted called op, and nothing is left running. With an Observer,
// every event of a call comes before Do returns, and the events add up to
// the counters. Run with -race.
func TestHammer(t *testing.T) {
	t.Parallel()
	configs := map[string]hedge.Config{
		"fixed":    {Delay: ms(2), MaxHedges: 3},
		"adaptive": {MaxHedges: 2, MinDelay: time.Millisecond, MaxDelay: ms(5), Window: time.Second},
		"budget":   {Delay: ms(1), MaxHedges: 2, Budget: retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.3})},
		"observer": {Delay: ms(2), MaxHedges: 3, Budget: retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.5})},
	}
	type returnedKey struct{}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var events [resilience.EventFallback + 1]atomic.Int64
				var late, panics, panicked atomic.Int64
				if name == "observer" {
					cfg.Observer = resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
						events[e.Kind].Add(1)
						if ctx.Value(returnedKey{}).(*atomic.Bool).Load() {
							late.Add(1)
						}
					})
				}
				h := hedge.New(cfg)
				var opCalls atomic.Int64
				var wg sync.WaitGroup
				const callers, calls = 16, 100
				var violations atomic.Int64
				report := func(format string, args ...any) {
					if violations.Add(1) <= 5 {
						t.Errorf(format, args...)
					}
				}
				for g := range callers {
					rnd := rand.New(rand.NewPCG(uint64(g), 99))
					var rmu sync.Mutex
					draw := func() float64 { rmu.Lock(); defer rmu.Unlock(); return rnd.Float64() }
					wg.Go(func() {
						for i := range calls {
							var active atomic.Int32
							var okMu sync.Mutex
							succeeded := map[string]bool{}
							v := &boom{g*calls + i}
							op := func(ctx context.Context) (string, error) {
								opCalls.Add(1)
								active.Add(1)
								defer active.Add(-1)
								id := fmt.Sprintf("%d/%d/%f", g, i, draw())
								u := draw()
								d := time.Duration(draw() * float64(ms(6)))
								switch {
								case u < 0.4:
								case u < 0.6:
									d *= 3
								case u < 0.75:
									return id, errTransient
								case u < 0.8:
									return id, resilience.Permanent(errTransient)
								case u < 0.82:
									time.Sleep(d)
									panics.Add(1)
									panic(v)
								case u < 0.9:
									time.Sleep(d) // ignores its context
									okMu.Lock()
									succeeded[id] = true
									okMu.Unlock()
									return id, nil
								}
								timer := time.NewTimer(d)
								defer timer.Stop()
								select {
								case <-timer.C:
									okMu.Lock()
									succeeded[id] = true
									okMu.Unlock()
									return id, nil
								case <-ctx.Done():
									return id, ctx.Err()
								}
							}
							var returned atomic.Bool
							ctx, cancel := context.WithCancel(context.WithValue(context.Background(), returnedKey{}, &returned))
							if draw() < 0.1 {
								time.AfterFunc(ms(3), cancel)
							}
							var got string
							var err error
							var recovered any
							func() {
								defer func() { recovered = recover() }()
								got, err = resilience.Do(ctx, h, op)
							}()
							returned.Store(true)
							cancel()
							if n := active.Load(); n != 0 {
								report("call %d/%d: Do returned with %d attempts running", g, i, n)
							}
							switch {
							case recovered != nil:
								panicked.Add(1)
								if recovered != any(v) {
									report("call %d/%d: panic %v, want %v", g, i, recovered, v)
								}
							case err == nil:
								okMu.Lock()
								ok := succeeded[got]
								okMu.Unlock()
								if !ok {
									report("call %d/%d: Do returned %q, not a successful attempt of the call", g, i, got)
								}
							case !errors.Is(err, errTransient) && !errors.Is(err, context.Canceled):
								report("call %d/%d: unexpected error %v", g, i, err)
							}
						}
					})
				}
				wg.Wait()
				synctest.Wait()
				m := h.Metrics()
				assert.EqualValues(t, callers*calls, m.Calls)
				assert.EqualValues(t, int64(m.Calls+m.Hedges), opCalls.Load(), "each hedge called op once")
				assert.LessOrEqual(t, m.HedgesOnFailure, m.Hedges)
				assert.LessOrEqual(t, m.HedgeWins, m.Hedges)
				assert.Positive(t, m.Hedges)
				t.Logf("%+v", m)
				if cfg.Observer != nil {
					assert.Zero(t, late.Load(), "events after Do returned")
					assert.EqualValues(t, m.Hedges, events[resilience.EventHedge].Load(), "an EventHedge per hedge")
					assert.Equal(t, opCalls.Load()-panics.Load(), events[resilience.EventAttempt].Load(),
						"an EventAttempt per attempt that returned")
					dones := events[resilience.EventDone].Load()
					assert.Equal(t, int64(callers*calls)-panicked.Load(), dones, "an EventDone per call that did not panic")
					t.Logf("events: %d attempts, %d hedges, %d done", events[resilience.EventAttempt].Load(),
						events[resilience.EventHedge].Load(), dones)
				}
			})
		})
	}
}

// The same in real time, where the timers of the hedges fire on other
// threads while attempts run: a delay of a microsecond, attempts that yield
// a few times (no sleep) and fail, panic or succeed at random, with no
// Budget and with one that yields while it is asked (so that the timer's
// questions overlap with failures and with each other).
func TestHammerRealTime(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]retry.Budget{"no budget": nil, "yielding budget": yieldingBudget{}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hammerRealTime(t, hedge.New(hedge.Config{Delay: time.Microsecond, MaxHedges: 3, Budget: b}))
		})
	}
}

// yieldingBudget allows every hedge, after yielding.
type yieldingBudget struct{}

func (yieldingBudget) Request()       {}
func (yieldingBudget) Success()       {}
func (yieldingBudget) Failure()       {}
func (yieldingBudget) Withdraw() bool { runtime.Gosched(); return true }

func hammerRealTime(t *testing.T, h *hedge.Hedge) {
	var opCalls atomic.Int64
	var wg sync.WaitGroup
	const callers, calls = 8, 300
	for g := range callers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			var rmu sync.Mutex
			draw := func() float64 { rmu.Lock(); defer rmu.Unlock(); return rnd.Float64() }
			for i := range calls {
				var active atomic.Int32
				v := &boom{i}
				op := func(ctx context.Context) (int, error) {
					opCalls.Add(1)
					active.Add(1)
					defer active.Add(-1)
					u := draw()
					for range int(draw() * 50) {
						if ctx.Err() != nil {
							return 0, ctx.Err()
						}
						runtime.Gosched()
					}
					switch {
					case u < 0.2:
						return 0, errTransient
					case u < 0.23:
						panic(v)
					}
					return 1, nil
				}
				var recovered any
				var got int
				var err error
				func() {
					defer func() { recovered = recover() }()
					got, err = resilience.Do(context.Background(), h, op)
				}()
				if n := active.Load(); n != 0 {
					t.Errorf("call %d/%d: Do returned with %d attempts running", g, i, n)
				}
				switch {
				case recovered != nil:
					assert.Same(t, v, recovered)
				case err == nil:
					assert.Equal(t, 1, got)
				default:
					assert.ErrorIs(t, err, errTransient)
				}
			}
		})
	}
	wg.Wait()
	m := h.Metrics()
	assert.EqualValues(t, callers*calls, m.Calls)
	assert.EqualValues(t, int64(m.Calls+m.Hedges), opCalls.Load(), "each hedge called op once")
}

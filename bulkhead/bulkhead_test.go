package bulkhead_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
)

var _ resilience.Policy = (*bulkhead.Bulkhead)(nil)

func TestNewPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int
		cfg  bulkhead.Config
		want string
	}{
		{"zero limit", 0, bulkhead.Config{}, "bulkhead: maxConcurrent 0 is less than 1"},
		{"negative limit", -3, bulkhead.Config{}, "bulkhead: maxConcurrent -3 is less than 1"},
		{"negative queue", 1, bulkhead.Config{MaxQueue: -2, MaxWait: time.Second}, "bulkhead: negative MaxQueue -2"},
		{"negative wait", 1, bulkhead.Config{MaxWait: -time.Second}, "bulkhead: negative MaxWait -1s (0 never waits, resilience.Forever waits as long as the context allows)"},
		{"bad order", 1, bulkhead.Config{Order: 7}, "bulkhead: unknown Order(7)"},
		{"AIMD min above max", 4, bulkhead.Config{Adaptive: bulkhead.AIMD{Min: 5}},
			"bulkhead: AIMD: Min 5 is above maxConcurrent 4"},
		{"AIMD initial above max", 4, bulkhead.Config{Adaptive: bulkhead.AIMD{Initial: 5}},
			"bulkhead: AIMD: Initial 5 is above maxConcurrent 4"},
		{"AIMD negative min", 4, bulkhead.Config{Adaptive: bulkhead.AIMD{Min: -1}},
			"bulkhead: AIMD: negative Min -1"},
		{"AIMD backoff", 4, bulkhead.Config{Adaptive: bulkhead.AIMD{Backoff: 1}},
			"bulkhead: AIMD: Backoff 1 is outside (0, 1)"},
		{"AIMD latency", 4, bulkhead.Config{Adaptive: bulkhead.AIMD{Latency: -1}},
			"bulkhead: AIMD: negative Latency -1ns"},
		{"Gradient tolerance", 4, bulkhead.Config{Adaptive: bulkhead.Gradient{Tolerance: 0.5}},
			"bulkhead: Gradient: Tolerance 0.5 is below 1"},
		{"Gradient smoothing", 4, bulkhead.Config{Adaptive: bulkhead.Gradient{Smoothing: 1.5}},
			"bulkhead: Gradient: Smoothing 1.5 is outside (0, 1]"},
		{"Gradient window", 4, bulkhead.Config{Adaptive: bulkhead.Gradient{NoLoadWindow: -1}},
			"bulkhead: Gradient: negative NoLoadWindow -1ns"},
		{"Gradient initial", 4, bulkhead.Config{Adaptive: bulkhead.Gradient{Initial: -1}},
			"bulkhead: Gradient: negative Initial -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.want, func() { bulkhead.New(tt.max, tt.cfg) })
		})
	}
}

func TestDoReturnsOpOutcome(t *testing.T) {
	t.Parallel()
	b := bulkhead.New(1, bulkhead.Config{})
	boom := errors.New("boom")
	ctx := resilience.WithKey(t.Context(), "k")
	calls := 0
	err := b.Do(ctx, func(got context.Context) error {
		calls++
		assert.Equal(t, ctx, got, "op gets the caller's context")
		return boom
	})
	assert.Same(t, boom, err)
	assert.Equal(t, 1, calls)
	require.NoError(t, b.Do(ctx, func(context.Context) error { return nil }))
	assert.Equal(t, bulkhead.Metrics{Limit: 1}, b.Metrics())
}

func TestFailFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var hooked []*bulkhead.FullError
		b := bulkhead.New(2, bulkhead.Config{OnReject: func(_ context.Context, err *bulkhead.FullError) {
			hooked = append(hooked, err)
		}})
		release := occupy(b, t.Context(), 2)
		assert.True(t, b.Saturated())

		ran := false
		err := b.Do(t.Context(), func(context.Context) error { ran = true; return nil })
		assert.False(t, ran)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		var fe *bulkhead.FullError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 2, fe.Limit())
		assert.Zero(t, fe.Waited())
		assert.False(t, fe.TooManyKeys())
		assert.Equal(t, 503, fe.HTTPStatus())
		assert.Equal(t, "bulkhead: full: 2 calls in flight", err.Error())
		assert.Equal(t, []*bulkhead.FullError{fe}, hooked)
		assert.Equal(t, bulkhead.Metrics{InFlight: 2, Limit: 2, Rejected: 1}, b.Metrics())

		release()
		assert.False(t, b.Saturated())
		assert.Equal(t, bulkhead.Metrics{Limit: 2, Rejected: 1}, b.Metrics())
	})
}

func TestQueueBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxQueue: 2, MaxWait: resilience.Forever})
		release := occupy(b, t.Context(), 1)
		w1 := start(b, t.Context(), nil)
		w2 := start(b, t.Context(), nil)
		synctest.Wait()
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Queued: 2, Limit: 1}, b.Metrics())
		assert.True(t, b.Saturated())

		err := b.Do(t.Context(), func(context.Context) error { return nil })
		require.ErrorIs(t, err, bulkhead.ErrFull, "third waiter finds the queue full")

		release()
		for _, w := range []<-chan result{w1, w2} {
			r := <-w
			require.NoError(t, r.err)
			assert.True(t, r.ran)
		}
		assert.Equal(t, bulkhead.Metrics{Limit: 1, Rejected: 1}, b.Metrics())
	})
}

func TestQueueOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		order bulkhead.Order
		want  []int
	}{
		{bulkhead.FIFO, []int{1, 2, 3}},
		{bulkhead.LIFO, []int{3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.order.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := bulkhead.New(1, bulkhead.Config{MaxQueue: 3, MaxWait: resilience.Forever, Order: tt.order})
				release := occupy(b, t.Context(), 1)
				var got []int // appended under the single permit
				var waiters []<-chan result
				for id := 1; id <= 3; id++ {
					waiters = append(waiters, start(b, t.Context(), func() { got = append(got, id) }))
					synctest.Wait() // queued in this order
				}
				release()
				for _, w := range waiters {
					require.NoError(t, (<-w).err)
				}
				assert.Equal(t, tt.want, got)
			})
		})
	}
}

func TestLIFOPushesOutOldest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxQueue: 2, MaxWait: resilience.Forever, Order: bulkhead.LIFO})
		release := occupy(b, t.Context(), 1)
		w1 := start(b, t.Context(), nil)
		synctest.Wait()
		time.Sleep(time.Second)
		w2 := start(b, t.Context(), nil)
		synctest.Wait()
		w3 := start(b, t.Context(), nil)

		r1 := <-w1
		assert.False(t, r1.ran)
		var fe *bulkhead.FullError
		require.ErrorAs(t, r1.err, &fe, "the oldest waiter makes room")
		assert.Equal(t, 1, fe.Limit())
		assert.Equal(t, time.Second, fe.Waited())
		assert.Equal(t, "bulkhead: full: no permit after waiting 1s (limit 1)", fe.Error())
		synctest.Wait()
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Queued: 2, Limit: 1, Rejected: 1}, b.Metrics())

		release()
		require.NoError(t, (<-w2).err)
		require.NoError(t, (<-w3).err)
	})
}

func TestMaxWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxQueue: 1, MaxWait: 100 * time.Millisecond})
		release := occupy(b, t.Context(), 1)
		defer release()

		t0 := time.Now()
		err := b.Do(t.Context(), func(context.Context) error { return nil })
		assert.Equal(t, 100*time.Millisecond, time.Since(t0))
		var fe *bulkhead.FullError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 1, fe.Limit())
		assert.Equal(t, 100*time.Millisecond, fe.Waited())
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Limit: 1, Rejected: 1}, b.Metrics(), "left the queue")
	})
}

func TestMaxWaitGranted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxQueue: 1, MaxWait: time.Second})
		release := occupy(b, t.Context(), 1)
		w := start(b, t.Context(), nil)
		time.Sleep(999 * time.Millisecond)
		release()
		r := <-w
		require.NoError(t, r.err)
		assert.True(t, r.ran)
	})
}

func TestCancelledWaiterLeaves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", context.WithCancel, context.Canceled},
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := bulkhead.New(1, bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever})
				release := occupy(b, t.Context(), 1)
				ctx, cancel := tt.ctx(t.Context())
				defer cancel()
				w := start(b, ctx, nil)
				synctest.Wait()
				assert.Equal(t, 1, b.Metrics().Queued)

				t0 := time.Now()
				if tt.want == context.Canceled {
					cancel()
				}
				r := <-w
				assert.Equal(t, tt.want, r.err)
				assert.False(t, r.ran)
				if tt.want == context.DeadlineExceeded {
					assert.Equal(t, time.Second, time.Since(t0))
				} else {
					assert.Zero(t, time.Since(t0), "leaves at once")
				}
				assert.Equal(t, bulkhead.Metrics{InFlight: 1, Limit: 1}, b.Metrics(), "place freed, not a rejection")

				w2 := start(b, t.Context(), nil) // the freed place is usable
				synctest.Wait()
				assert.Equal(t, 1, b.Metrics().Queued)
				release()
				require.NoError(t, (<-w2).err)
			})
		})
	}
}

func TestDoneContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ran := false
		require.NoError(t, b.Do(ctx, func(context.Context) error { ran = true; return nil }),
			"a free permit is taken without waiting")
		assert.True(t, ran)

		release := occupy(b, t.Context(), 1)
		defer release()
		ran = false
		err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
		assert.Equal(t, context.Canceled, err, "does not queue")
		assert.False(t, ran)
		assert.Equal(t, bulkhead.Metrics{InFlight: 1, Limit: 1}, b.Metrics())
	})
}

// TestGrantRacesWithGivingUp hands a permit to a waiter at the very instant
// its context ends or its MaxWait expires; whichever the waiter sees first,
// no permit may be lost or kept.
func TestGrantRacesWithGivingUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  bulkhead.Config
	}{
		{"cancel", bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever}},
		{"max wait", bulkhead.Config{MaxQueue: 1, MaxWait: time.Second}},
		{"cancel LIFO", bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever, Order: bulkhead.LIFO}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				outcomes := map[string]int{}
				for range 200 {
					b := bulkhead.New(1, tt.cfg)
					ctx, cancel := context.WithCancel(t.Context())
					gate := make(chan struct{})
					holder := start(b, t.Context(), func() {
						<-gate
						if tt.cfg.MaxWait != resilience.Forever {
							time.Sleep(tt.cfg.MaxWait) // returns as MaxWait expires
						}
					})
					synctest.Wait()
					w := start(b, ctx, nil)
					synctest.Wait()
					close(gate)
					require.NoError(t, (<-holder).err)
					if tt.cfg.MaxWait == resilience.Forever {
						cancel() // as the waiter is handed the holder's permit
					}
					r := <-w
					cancel()
					switch {
					case r.err == nil:
						assert.True(t, r.ran)
						outcomes["ran"]++
					case errors.Is(r.err, context.Canceled):
						assert.False(t, r.ran)
						outcomes["canceled"]++
					default:
						require.ErrorIs(t, r.err, bulkhead.ErrFull)
						assert.False(t, r.ran)
						outcomes["full"]++
					}
					assert.Equal(t, 0, b.Metrics().InFlight, "permit given back")
					assert.Equal(t, 0, b.Metrics().Queued)
					require.NoError(t, b.Do(t.Context(), func(context.Context) error { return nil }))
				}
				t.Log(outcomes)
			})
		})
	}
}

func TestPanicReleasesPermit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  bulkhead.Config
	}{
		{"fixed", bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever}},
		{"adaptive", bulkhead.Config{MaxQueue: 1, MaxWait: resilience.Forever, Adaptive: bulkhead.AIMD{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := bulkhead.New(1, tt.cfg)
				gate := make(chan struct{})
				type boom struct{ n int }
				panicked := make(chan any, 1)
				go func() {
					panicked <- catch(func() {
						_ = b.Do(t.Context(), func(context.Context) error { <-gate; panic(boom{7}) })
					})
				}()
				synctest.Wait()
				w := start(b, t.Context(), nil)
				synctest.Wait()
				close(gate)
				assert.Equal(t, boom{7}, <-panicked, "the panic propagates unchanged")
				r := <-w
				require.NoError(t, r.err, "the permit went to the waiter")
				assert.True(t, r.ran)
				assert.Equal(t, 0, b.Metrics().InFlight)
				assert.Equal(t, 1, b.Metrics().Limit)
			})
		})
	}
}

func TestHooksRunWithoutLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var b *bulkhead.Bulkhead
		var seen []bulkhead.Metrics
		b = bulkhead.New(1, bulkhead.Config{
			MaxQueue: 1,
			MaxWait:  time.Second,
			OnReject: func(context.Context, *bulkhead.FullError) {
				seen = append(seen, b.Metrics()) // would deadlock under b's lock
				_ = b.Saturated()
			},
		})
		release := occupy(b, t.Context(), 1)
		defer release()
		require.ErrorIs(t, b.Do(t.Context(), func(context.Context) error { return nil }), bulkhead.ErrFull)
		assert.Len(t, seen, 1)
	})
}

// TestHammer runs many goroutines through small bulkheads with real
// scheduling: never more calls than the limit may run at once, and every
// permit must come back.
func TestHammer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  bulkhead.Config
	}{
		{"fail fast", bulkhead.Config{}},
		{"FIFO", bulkhead.Config{MaxQueue: 8, MaxWait: time.Millisecond}},
		{"LIFO", bulkhead.Config{MaxQueue: 8, MaxWait: time.Millisecond, Order: bulkhead.LIFO}},
		{"unbounded wait", bulkhead.Config{MaxQueue: 64, MaxWait: resilience.Forever}},
		// The limit moves all the time: every sleeping call counts as a
		// drop, every other one raises it.
		{"adaptive", bulkhead.Config{MaxQueue: 8, MaxWait: time.Millisecond,
			Adaptive: bulkhead.AIMD{Latency: time.Microsecond / 2, Backoff: 0.5}}},
	}
	const limit, workers, calls = 4, 16, 300
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := bulkhead.New(limit, tt.cfg)
			var cur, peak, ok, full, canceled atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range calls {
						ctx, cancel := context.WithCancel(t.Context())
						if (w+i)%7 == 0 {
							go cancel() // gives up while it may be waiting
						}
						err := b.Do(ctx, func(context.Context) error {
							n := cur.Add(1)
							for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
							}
							if i%3 == 0 {
								time.Sleep(time.Microsecond)
							}
							cur.Add(-1)
							return nil
						})
						cancel()
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, bulkhead.ErrFull):
							full.Add(1)
						case errors.Is(err, context.Canceled):
							canceled.Add(1)
						default:
							t.Errorf("unexpected error %v", err)
						}
					}
				})
			}
			wg.Wait()
			assert.LessOrEqual(t, peak.Load(), int64(limit))
			assert.Equal(t, int64(workers*calls), ok.Load()+full.Load()+canceled.Load())
			assert.Positive(t, ok.Load())
			m := b.Metrics()
			assert.Equal(t, 0, m.InFlight)
			assert.Equal(t, 0, m.Queued)
			assert.Equal(t, uint64(full.Load()), m.Rejected)
			if tt.cfg.Adaptive == nil {
				assert.Equal(t, limit, m.Limit)
			}
			t.Logf("ok %d full %d canceled %d peak %d", ok.Load(), full.Load(), canceled.Load(), peak.Load())
		})
	}
}

func TestOrderString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "FIFO", bulkhead.FIFO.String())
	assert.Equal(t, "LIFO", bulkhead.LIFO.String())
	assert.Equal(t, "Order(9)", bulkhead.Order(9).String())
}

package cache_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/cache"
)

// gate is a loader that blocks until released, and counts its calls.
type gate struct {
	calls    atomic.Int64
	release  chan struct{}
	value    int
	ctxs     chan context.Context // the contexts loads ran with
	cancelOK bool                 // return when the load context ends
}

func newGate(v int) *gate {
	return &gate{release: make(chan struct{}), value: v, ctxs: make(chan context.Context, 16), cancelOK: true}
}

func (g *gate) load(ctx context.Context, _ string) (int, error) {
	g.calls.Add(1)
	g.ctxs <- ctx
	if g.cancelOK {
		select {
		case <-g.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	} else {
		<-g.release
	}
	return g.value, nil
}

func TestCoalescing64GoroutinesOneLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate(7)
		c := cache.New(g.load, cache.Config{})
		defer c.Close()
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				v, err := c.Get(context.Background(), "k")
				assert.NoError(t, err)
				assert.Equal(t, 7, v)
			})
		}
		synctest.Wait() // all 64 are waiting
		assert.EqualValues(t, 1, c.Metrics().LoadsInFlight)
		close(g.release)
		wg.Wait()
		assert.EqualValues(t, 1, g.calls.Load())
		m := c.Metrics()
		assert.EqualValues(t, 1, m.Loads)
		assert.EqualValues(t, 64, m.Misses)
	})
}

func TestLoadContextIsDetached(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type ctxKey struct{}
		g := newGate(1)
		c := cache.New(g.load, cache.Config{LoadTimeout: 5 * time.Second})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), ctxKey{}, "trace-1"), time.Second)
		defer cancel()
		go func() { _, _ = c.Get(ctx, "k") }()
		lctx := <-g.ctxs
		assert.Equal(t, "trace-1", lctx.Value(ctxKey{}), "the caller's values reach the loader")
		deadline, ok := lctx.Deadline()
		require.True(t, ok)
		assert.Equal(t, time.Now().Add(5*time.Second), deadline, "LoadTimeout, not the caller's deadline")
		close(g.release)
		synctest.Wait()
	})
}

func TestLoadTimeoutBoundsTheLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1)
		c := cache.New(g.load, cache.Config{LoadTimeout: 3 * time.Second})
		defer c.Close()
		start := time.Now()
		_, err := c.Get(context.Background(), "k")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestWaiterWhoseContextEndsLeavesAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate(9)
		c := cache.New(g.load, cache.Config{})
		defer c.Close()
		first, cancelFirst := context.WithCancel(context.Background())
		errFirst := make(chan error)
		go func() {
			_, err := c.Get(first, "k")
			errFirst <- err
		}()
		got := make(chan int)
		go func() {
			v, err := c.Get(context.Background(), "k")
			assert.NoError(t, err)
			got <- v
		}()
		synctest.Wait()
		cancelFirst()
		require.ErrorIs(t, <-errFirst, context.Canceled, "the first caller leaves without waiting for the load")
		lctx := <-g.ctxs
		assert.NoError(t, lctx.Err(), "the load goes on for the other waiter")
		close(g.release)
		assert.Equal(t, 9, <-got)
		v, err := c.Get(context.Background(), "k")
		require.NoError(t, err)
		assert.Equal(t, 9, v, "and its result is kept")
		assert.EqualValues(t, 1, g.calls.Load())
	})
}

func TestLastWaiterLeavingCancelsTheLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate(3)
		c := cache.New(g.load, cache.Config{})
		defer c.Close()
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		var wg sync.WaitGroup
		for _, ctx := range []context.Context{ctx1, ctx2} {
			wg.Go(func() {
				_, err := c.Get(ctx, "k")
				assert.Error(t, err)
			})
		}
		lctx := <-g.ctxs
		synctest.Wait()
		cancel1()
		synctest.Wait()
		assert.NoError(t, lctx.Err(), "one waiter is left")
		time.Sleep(time.Second) // ctx2's deadline
		wg.Wait()
		synctest.Wait()
		assert.ErrorIs(t, lctx.Err(), context.Canceled, "nobody waits: the load is cancelled")
		assert.EqualValues(t, 0, c.Metrics().LoadsInFlight)
		assert.Equal(t, 0, c.Len())
	})
}

func TestNewGetWaitsForAbandonedLoadToReturn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGate(4)
		g.cancelOK = false // a loader that ignores its context
		c := cache.New(g.load, cache.Config{})
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = c.Get(ctx, "k") }()
		<-g.ctxs
		cancel()
		synctest.Wait()
		got := make(chan int)
		go func() {
			v, err := c.Get(context.Background(), "k")
			assert.NoError(t, err)
			got <- v
		}()
		synctest.Wait()
		assert.EqualValues(t, 1, g.calls.Load(), "no second load while the first has not returned")
		g.release <- struct{}{} // the abandoned load returns
		synctest.Wait()
		assert.EqualValues(t, 2, g.calls.Load(), "then the waiting Get starts its own")
		<-g.ctxs
		close(g.release)
		assert.Equal(t, 4, <-got)
	})
}

func TestPanickingLoader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var reported []*cache.PanicError
		var mu sync.Mutex
		boom := errors.New("boom")
		var calls atomic.Int64
		release := make(chan struct{})
		c := cache.New(func(_ context.Context, k string) (int, error) {
			if calls.Add(1) == 1 {
				<-release
				panic(boom)
			}
			return 5, nil
		}, cache.Config{OnPanic: func(_ context.Context, err *cache.PanicError) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}})
		defer c.Close()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := c.Get(context.Background(), "k")
				assert.ErrorIs(t, err, cache.ErrPanicked)
				assert.ErrorIs(t, err, boom, "the panic value is the cause")
				var pe *cache.PanicError
				if assert.ErrorAs(t, err, &pe) {
					assert.Equal(t, "k", pe.Key)
					assert.Contains(t, string(pe.Stack), "TestPanickingLoader")
				}
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		synctest.Wait()
		require.Len(t, reported, 1, "OnPanic is told once per panic")
		assert.Equal(t, "cache: loader panicked loading k: boom", reported[0].Error())

		v, err := c.Get(context.Background(), "k")
		require.NoError(t, err, "the key is not poisoned")
		assert.Equal(t, 5, v)
		m := c.Metrics()
		assert.EqualValues(t, 1, m.LoadErrors)
		assert.EqualValues(t, 0, m.LoadsInFlight)
	})
}

func TestLoaderCallingGoexit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var reported atomic.Int64
		c := cache.New(func(context.Context, string) (int, error) {
			runtime.Goexit()
			return 0, nil
		}, cache.Config{OnPanic: func(context.Context, *cache.PanicError) { reported.Add(1) }})
		defer c.Close()
		_, err := c.Get(context.Background(), "k")
		require.ErrorIs(t, err, cache.ErrPanicked)
		synctest.Wait()
		assert.EqualValues(t, 1, reported.Load())
	})
}

func TestInvalidationDuringLoadIsNotUndone(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"Delete", "Purge", "Set"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := newGate(1) // the value from before the update
				c := cache.New(g.load, cache.Config{})
				defer c.Close()
				got := make(chan int)
				go func() {
					v, _ := c.Get(context.Background(), "k")
					got <- v
				}()
				<-g.ctxs
				switch op {
				case "Delete":
					c.Delete("k")
				case "Purge":
					c.Purge()
				case "Set":
					c.Set("k", 2)
				}
				close(g.release)
				assert.Equal(t, 1, <-got, "the waiting caller gets the load's value")
				if op == "Set" {
					v, err := c.Get(context.Background(), "k")
					require.NoError(t, err)
					assert.Equal(t, 2, v, "the load does not overwrite Set")
				} else {
					assert.Equal(t, 0, c.Len(), "the load's value is not stored")
				}
			})
		})
	}
}

// TestHammerOneHotKey runs readers, writers and impatient callers on one key
// whose value expires all the time (in real time, under -race), and checks
// that the loader never runs twice at once.
func TestHammerOneHotKey(t *testing.T) {
	t.Parallel()
	var running, maxRunning, calls atomic.Int64
	c := cache.New(func(ctx context.Context, _ string) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		runtime.Gosched()
		if rand.IntN(10) == 0 {
			return 0, errDown
		}
		return 1, ctx.Err()
	}, cache.Config{TTL: 50 * time.Microsecond, StaleWhileRevalidate: 50 * time.Microsecond,
		RefreshAhead: 20 * time.Microsecond, StaleIfError: time.Millisecond, LoadTimeout: time.Second})
	defer c.Close()

	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				switch {
				case w == 0 && i%50 == 0:
					c.Delete("hot")
				case w == 1 && i%70 == 0:
					c.Set("hot", 1)
				case w == 2 && i%90 == 0:
					c.Purge()
				case w%4 == 3:
					ctx, cancel := context.WithCancel(context.Background())
					if i%2 == 0 {
						cancel()
					}
					_, _ = c.Get(ctx, "hot")
					cancel()
				default:
					v, err := c.Get(context.Background(), "hot")
					if err == nil {
						assert.Equal(t, 1, v)
					}
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, maxRunning.Load(), "at most one load of the key at a time")
	assert.Positive(t, calls.Load())
	c.Close()
	assert.EqualValues(t, 0, c.Metrics().LoadsInFlight)
}

// TestCloseDuringLoads closes a cache while goroutines load and read keys:
// every Get returns (a value or an error), Close waits for the loads, and
// the closed cache still takes writes (its store's maintenance then runs on
// the writer's goroutine).
func TestCloseDuringLoads(t *testing.T) {
	t.Parallel()
	c := cache.New(func(ctx context.Context, k string) (int, error) {
		runtime.Gosched()
		return len(k), ctx.Err()
	}, cache.Config{MaxEntries: 100, TTL: time.Millisecond, StaleWhileRevalidate: time.Millisecond})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				_, err := c.Get(context.Background(), strconv.Itoa(w*1000+i%50))
				if err != nil {
					assert.ErrorIs(t, err, cache.ErrClosed)
				}
			}
		})
	}
	runtime.Gosched()
	c.Close()
	wg.Wait()
	assert.EqualValues(t, 0, c.Metrics().LoadsInFlight)
	for i := range 10_000 {
		c.Set(strconv.Itoa(i), i)
	}
	assert.LessOrEqual(t, c.Len(), 100)
}

// TestPanicErrorIsNotShared: the callers of one panicking load each get a
// *PanicError of their own, so that one changing it does not change what
// another reads.
func TestPanicErrorIsNotShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c := cache.New(func(context.Context, string) (int, error) {
			<-release
			panic("boom")
		}, cache.Config{OnPanic: func(context.Context, *cache.PanicError) {}})
		defer c.Close()
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := c.Get(context.Background(), "k")
				errs <- err
			}()
		}
		synctest.Wait()
		close(release)
		var pes [2]*cache.PanicError
		for i := range pes {
			require.ErrorAs(t, <-errs, &pes[i])
		}
		require.False(t, pes[0] == pes[1], "the two callers got the same *PanicError")
		pes[0].Key, pes[0].Stack[0] = "changed", '!'
		assert.Equal(t, "k", pes[1].Key)
		assert.NotEqual(t, byte('!'), pes[1].Stack[0])
	})
}

type traceKey struct{}

// OnPanic gets the context of the load, which keeps the values of the Get
// that started it.
func TestOnPanicGetsTheLoadsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		got := make(chan any, 1)
		c := cache.New(func(context.Context, string) (int, error) {
			panic("boom")
		}, cache.Config{Name: "users", OnPanic: func(ctx context.Context, _ *cache.PanicError) {
			got <- ctx.Value(traceKey{})
		}})
		defer c.Close()
		assert.Equal(t, "users", c.Name())
		ctx := context.WithValue(t.Context(), traceKey{}, "trace-1")
		_, err := c.Get(ctx, "k")
		require.ErrorIs(t, err, cache.ErrPanicked)
		assert.Equal(t, "trace-1", <-got)
	})
}

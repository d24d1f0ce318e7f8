package bulkhead_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/timelimit"
)

// Every refusal of a bulkhead is a local rejection: the call never reached
// the dependency.
func TestRejectionsAreLocal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rejections := map[string]func() error{
			"on arrival": func() error {
				b := bulkhead.New(1, bulkhead.Config{})
				defer occupy(b, t.Context(), 1)()
				return b.Do(t.Context(), noop)
			},
			"on arrival, adaptive": func() error {
				b := bulkhead.New(1, bulkhead.Config{Adaptive: bulkhead.AIMD{}})
				defer occupy(b, t.Context(), 1)()
				return b.Do(t.Context(), noop)
			},
			"after MaxWait": func() error {
				b := bulkhead.New(1, bulkhead.Config{MaxWait: time.Second})
				defer occupy(b, t.Context(), 1)()
				return b.Do(t.Context(), noop)
			},
			"pushed out of a LIFO queue": func() error {
				b := bulkhead.New(1, bulkhead.Config{MaxWait: resilience.Forever, MaxQueue: 1, Order: bulkhead.LIFO})
				release := occupy(b, t.Context(), 1)
				first := start(b, t.Context(), nil)
				synctest.Wait()
				second := start(b, t.Context(), nil)
				err := (<-first).err
				release()
				<-second
				return err
			},
			"too many keys": func() error {
				g := bulkhead.NewGroup(1, bulkhead.GroupConfig{MaxKeys: 1})
				defer occupy(g, key(t.Context(), "a"), 1)()
				return g.Do(key(t.Context(), "b"), noop)
			},
		}
		for name, reject := range rejections {
			err := reject()
			require.ErrorIs(t, err, bulkhead.ErrFull, name)
			assert.True(t, resilience.IsLocalRejection(err), name)
		}
	})
}

// impatient makes n concurrent calls through p, each with a caller's
// deadline of 5 ms, against a healthy dependency that answers in 50 ms;
// op's error on the caller's deadline is made by end.
func impatient(p resilience.Policy, n int, end func(ctx context.Context) error) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			_ = p.Do(ctx, func(ctx context.Context) error {
				select {
				case <-time.After(50 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return end(ctx)
				}
			})
		})
	}
	wg.Wait()
}

var impatientEnds = map[string]func(ctx context.Context) error{
	"ctx.Err":   func(ctx context.Context) error { return ctx.Err() },
	"url.Error": func(ctx context.Context) error { return &url.Error{Op: "Get", URL: "http://dep/", Err: ctx.Err()} },
	"own error": func(context.Context) error { return errors.New("connection torn down") },
}

// The caller's impatience is not the dependency's failure: a call whose
// caller's context is done when op returns is no sample for an adaptive
// limit, neither a drop nor a latency.
func TestCallerDeadlineIsNoSample(t *testing.T) {
	t.Parallel()
	for name, end := range impatientEnds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := &fakeLimit{value: 10}
				b := bulkhead.New(10, bulkhead.Config{Adaptive: f})
				impatient(b, 5, end)
				assert.Empty(t, f.taken())
			})
		})
	}
}

// A success that comes back after the caller gave up is still a success
// of the dependency, and its latency a sample.
func TestLateSuccessIsASample(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLimit{value: 10}
		b := bulkhead.New(10, bulkhead.Config{Adaptive: f})
		impatient(b, 5, func(context.Context) error { time.Sleep(45 * time.Millisecond); return nil })
		require.Len(t, f.taken(), 5)
		for _, s := range f.taken() {
			assert.False(t, s.Dropped)
		}
	})
}

// The same with the algorithms of this package: five impatient callers
// leave the limit where it was.
func TestCallerDeadlineKeepsLimit(t *testing.T) {
	t.Parallel()
	for _, algo := range []bulkhead.Algorithm{bulkhead.AIMD{}, bulkhead.Gradient{}} {
		for name, end := range impatientEnds {
			t.Run(reflect.TypeOf(algo).Name()+"/"+name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					b := bulkhead.New(10, bulkhead.Config{Adaptive: algo})
					impatient(b, 5, end)
					assert.Equal(t, 10, b.Metrics().Limit)
				})
			})
		}
	}
}

// A caller that cancels is no sample either, whatever op returns.
func TestCallerCancelIsNoSample(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLimit{value: 2}
		b := bulkhead.New(2, bulkhead.Config{Adaptive: f})
		ctx, cancel := context.WithCancel(t.Context())
		err := b.Do(ctx, func(context.Context) error {
			cancel()
			return &resilience.StatusError{Code: 503}
		})
		require.Error(t, err)
		assert.Empty(t, f.taken())
	})
}

// A time limit inside the bulkhead is the bulkhead's own measure of the
// dependency: its expiry is a drop.
func TestInnerTimeLimitIsADrop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLimit{value: 4}
		b := bulkhead.New(4, bulkhead.Config{Adaptive: f})
		p := resilience.Chain(b, timelimit.New(10*time.Millisecond, timelimit.Config{}))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // the caller can wait
		defer cancel()
		err := p.Do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		got := f.taken()
		require.Len(t, got, 1)
		assert.True(t, got[0].Dropped)
		assert.Equal(t, 10*time.Millisecond, got[0].Latency)
	})
}

// localRejection is a rejection by some policy of this process.
type localRejection struct{}

func (localRejection) Error() string        { return "local: refused" }
func (localRejection) HTTPStatus() int      { return 503 }
func (localRejection) LocalRejection() bool { return true }

// A policy inside the bulkhead that refuses the call (an open breaker, a
// local rate limit, another bulkhead) says nothing about the dependency:
// no sample.
func TestInnerLocalRejectionIsNoSample(t *testing.T) {
	t.Parallel()
	f := &fakeLimit{value: 4}
	b := bulkhead.New(4, bulkhead.Config{Adaptive: f})
	require.ErrorIs(t, b.Do(t.Context(), func(context.Context) error { return localRejection{} }), localRejection{})
	assert.Empty(t, f.taken())
}

// MaxWait alone lets calls wait, up to MaxWait, in a queue of
// DefaultMaxQueue.
func TestMaxWaitQueues(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxWait: time.Second})
		release := occupy(b, t.Context(), 1)
		w := start(b, t.Context(), nil)
		time.Sleep(500 * time.Millisecond)
		assert.Equal(t, 1, b.Metrics().Queued)
		release()
		r := <-w
		require.NoError(t, r.err)
		assert.True(t, r.ran)
	})
}

// The default queue holds 1024 calls.
func TestDefaultMaxQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxWait: resilience.Forever})
		release := occupy(b, t.Context(), 1)
		var waiters []<-chan result
		for range 1024 {
			waiters = append(waiters, start(b, t.Context(), nil))
		}
		synctest.Wait()
		assert.Equal(t, 1024, b.Metrics().Queued)
		assert.True(t, b.Saturated())
		require.ErrorIs(t, b.Do(t.Context(), noop), bulkhead.ErrFull, "the 1025th")
		release()
		for _, w := range waiters {
			require.NoError(t, (<-w).err)
		}
	})
}

// MaxWait Forever waits as long as the caller's context allows.
func TestMaxWaitForever(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.New(1, bulkhead.Config{MaxWait: resilience.Forever})
		defer occupy(b, t.Context(), 1)()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Hour)
		defer cancel()
		t0 := time.Now()
		err := b.Do(ctx, noop)
		assert.Equal(t, context.DeadlineExceeded, err)
		assert.Equal(t, 100*time.Hour, time.Since(t0))
	})
}

// MaxWait zero, the default, never waits; None says the same.
func TestMaxWaitZeroRefusesAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, cfg := range []bulkhead.Config{{}, {MaxWait: resilience.None}, {MaxQueue: resilience.None}} {
			b := bulkhead.New(1, cfg)
			release := occupy(b, t.Context(), 1)
			t0 := time.Now()
			require.ErrorIs(t, b.Do(t.Context(), noop), bulkhead.ErrFull)
			assert.Zero(t, time.Since(t0))
			assert.True(t, b.Saturated())
			release()
		}
	})
}

// MaxQueue without MaxWait says "let calls queue, and never let them
// wait": a contradiction, refused at construction.
func TestMaxQueueWithoutMaxWaitPanics(t *testing.T) {
	t.Parallel()
	for _, cfg := range []bulkhead.Config{{MaxQueue: 2}, {MaxQueue: 2, MaxWait: resilience.None}} {
		assert.PanicsWithValue(t,
			"bulkhead: MaxQueue 2 without MaxWait: a call that may not wait never queues; set MaxWait (resilience.Forever to wait as long as the caller's context allows)",
			func() { bulkhead.New(1, cfg) })
		assert.Panics(t, func() { bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: cfg}) })
	}
	assert.PanicsWithValue(t, "bulkhead: negative MaxQueue -2", func() {
		bulkhead.New(1, bulkhead.Config{MaxWait: time.Second, MaxQueue: -2})
	})
	assert.PanicsWithValue(t, "bulkhead: negative MaxWait -2ns (0 never waits, resilience.Forever waits as long as the context allows)",
		func() { bulkhead.New(1, bulkhead.Config{MaxWait: -2}) })
	// The same rule as ratelimit's: a wait with no queue at all is a
	// contradiction too.
	assert.PanicsWithValue(t, "bulkhead: MaxQueue None with MaxWait 1s: no call could wait; leave MaxWait 0 to never wait",
		func() { bulkhead.New(1, bulkhead.Config{MaxWait: time.Second, MaxQueue: resilience.None}) })
}

// The bulkheads of a Group wait as their Config says.
func TestGroupMaxWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := bulkhead.NewGroup(1, bulkhead.GroupConfig{Config: bulkhead.Config{MaxWait: time.Second}})
		release := occupy(g, key(t.Context(), "a"), 1)
		done := make(chan error)
		go func() { done <- g.Do(key(t.Context(), "a"), noop) }()
		time.Sleep(500 * time.Millisecond)
		release()
		require.NoError(t, <-done)
	})
}

// Errors handed to callers are not shared mutable values: whatever a
// caller does to the rejection it got, the next caller's is intact.
func TestRejectionNotShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for name, cfg := range map[string]bulkhead.Config{"fixed": {}, "adaptive": {Adaptive: bulkhead.AIMD{}}} {
			b := bulkhead.New(2, cfg)
			release := occupy(b, t.Context(), 2)
			first := b.Do(t.Context(), noop)
			want := first.Error()
			tamper(first)
			second := b.Do(t.Context(), noop)
			assert.Equal(t, want, second.Error(), name)
			release()
		}
	})
}

// tamper sets every exported field of the struct err points to to a
// non-zero value, as a careless caller might.
func tamper(err error) {
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 97)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Interface:
			f.Set(reflect.ValueOf(errors.New("tampered")))
		}
	}
}

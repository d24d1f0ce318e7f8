package breaker_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/timelimit"
)

// Every rejection of a breaker is a local rejection: the call never
// reached the dependency.
func TestRejectionsAreLocal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cases := map[string]func() error{
			"open": func() error {
				b := breaker.New(breaker.Config{ConsecutiveFailures: 1})
				_ = call(b, fail)
				return call(b, ok)
			},
			"half-open, probes taken": func() error {
				b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second})
				_ = call(b, fail)
				time.Sleep(time.Second)
				release := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = call(b, func(context.Context) error { <-release; return nil })
				}()
				synctest.Wait()
				err := call(b, ok)
				close(release)
				<-done
				return err
			},
			"forced open": func() error {
				b := breaker.New(breaker.Config{})
				b.ForceOpen()
				return call(b, ok)
			},
			"group": func() error {
				g := breaker.NewGroup(breaker.GroupConfig{Config: breaker.Config{ConsecutiveFailures: 1}})
				_ = g.Do(keyed("a"), fail)
				return g.Do(keyed("a"), ok)
			},
		}
		for name, reject := range cases {
			err := reject()
			require.ErrorIs(t, err, breaker.ErrOpen, name)
			assert.True(t, resilience.IsLocalRejection(err), name)
		}
		assert.False(t, resilience.IsLocalRejection(errBoom))
	})
}

// impatient makes n concurrent calls through p, each with a caller's
// deadline of 5 ms, against a healthy dependency that answers in 50 ms;
// op's error on the caller's deadline is made by fail.
func impatient(p resilience.Policy, n int, fail func(ctx context.Context) error) {
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
					return fail(ctx)
				}
			})
		})
	}
	wg.Wait()
}

// The caller's impatience is not the dependency's failure: five callers
// with 5 ms deadlines against a healthy 50 ms dependency leave a shared
// breaker closed, however op reports the deadline.
func TestCallerDeadlineIsNotAFailure(t *testing.T) {
	t.Parallel()
	ends := map[string]func(ctx context.Context) error{
		"ctx.Err":   func(ctx context.Context) error { return ctx.Err() },
		"url.Error": func(ctx context.Context) error { return &url.Error{Op: "Get", URL: "http://dep/", Err: ctx.Err()} },
		"own error": func(context.Context) error { return errBoom }, // e.g. a connection torn down
	}
	modes := map[string]breaker.Config{
		"consecutive": {ConsecutiveFailures: 5},
		"count":       {WindowCalls: 5, MinCalls: 5},
		"time":        {WindowDuration: time.Minute, MinCalls: 5},
		"slow":        {WindowCalls: 5, MinCalls: 5, SlowCall: time.Millisecond},
	}
	for endName, end := range ends {
		for modeName, cfg := range modes {
			t.Run(endName+"/"+modeName, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					b := breaker.New(cfg)
					impatient(b, 5, end)
					require.Equal(t, breaker.Closed, b.State())
					m := b.Metrics()
					assert.Zero(t, m.Failures)
					assert.Zero(t, m.Calls)
					assert.Zero(t, m.SlowCalls)
					assert.Equal(t, uint64(5), m.Ignored)
				})
			})
		}
	}
}

// A call that succeeds only after its caller's deadline is ignored too:
// not a success, not a slow call.
// A success that comes back after the caller gave up is still a success of
// the dependency (and a slow one, when it took long enough): the success
// path does not look at the context.
func TestLateSuccessCounts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, cfg := range []breaker.Config{{}, {WindowCalls: 10, SlowCall: time.Millisecond}} {
			b := breaker.New(cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			require.NoError(t, b.Do(ctx, sleepy(50*time.Millisecond, nil)))
			cancel()
			m := b.Metrics()
			assert.Equal(t, uint64(1), m.Calls)
			assert.Zero(t, m.Ignored)
			if cfg.SlowCall > 0 {
				assert.Equal(t, uint64(1), m.SlowCalls)
			}
		}
	})
}

// A time limit that a policy set outside the breaker (the budget of the
// whole call) is a policy's measure of the dependency, not the caller's
// impatience: when it expires while the dependency is being called, it
// counts (issue: "not a time limit that a policy set").
func TestOuterTimeLimitIsAFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1})
		p := resilience.Chain(timelimit.New(5*time.Millisecond, timelimit.Config{}), b)
		err := p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		require.Equal(t, breaker.Open, b.State())

		// The caller's own deadline in the same place is not.
		b = breaker.New(breaker.Config{ConsecutiveFailures: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		err = b.Do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, breaker.Closed, b.State())
	})
}

// A time limit inside the breaker is the breaker's own measure of the
// dependency: it expires while the breaker's context is live, and counts.
func TestInnerTimeLimitIsAFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 5})
		p := resilience.Chain(b, timelimit.New(10*time.Millisecond, timelimit.Config{}))
		hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the caller can wait
		defer cancel()
		for range 5 {
			require.ErrorIs(t, p.Do(ctx, hung), timelimit.ErrTimeout)
		}
		require.Equal(t, breaker.Open, b.State())
		assert.Equal(t, uint64(5), b.Metrics().Failures)
	})
}

// A probe whose caller gives up frees its slot instead of re-opening.
func TestImpatientProbeIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Second})
		_ = call(b, fail)
		time.Sleep(time.Second)
		impatient(b, 1, func(ctx context.Context) error { return ctx.Err() })
		require.Equal(t, breaker.HalfOpen, b.State())
		require.NoError(t, call(b, ok))
		require.Equal(t, breaker.Closed, b.State())
	})
}

// The caller's impatience is decided before Classify is asked: a done
// caller context is ignored whatever Classify would say.
func TestCallerDeadlineBeforeClassify(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		asked := 0
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			Classify:            func(error) breaker.Outcome { asked++; return breaker.Failure },
		})
		impatient(b, 1, func(ctx context.Context) error { return ctx.Err() })
		require.Equal(t, breaker.Closed, b.State())
		assert.Zero(t, asked)
		// A live caller: Classify decides.
		_ = call(b, fail)
		assert.Equal(t, 1, asked)
		require.Equal(t, breaker.Open, b.State())
	})
}

// localRejection is a rejection by some policy of this process.
type localRejection struct{}

func (localRejection) Error() string        { return "local: full" }
func (localRejection) LocalRejection() bool { return true }

// A policy inside the breaker that refuses the call (a full bulkhead, a
// local rate limit) says nothing about the dependency.
func TestInnerLocalRejectionIgnored(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{
		ConsecutiveFailures: 1,
		Classify:            func(error) breaker.Outcome { return breaker.Failure },
	})
	for range 3 {
		err := call(b, func(context.Context) error { return localRejection{} })
		require.ErrorIs(t, err, localRejection{})
	}
	require.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(3), b.Metrics().Ignored)
}

// A handler aborted with http.ErrAbortHandler (its client went away) is
// not a failure; the panic still propagates.
func TestAbortHandlerPanicIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, cfg := range []breaker.Config{
			{ConsecutiveFailures: 1, OpenDuration: time.Second},
			{ConsecutiveFailures: 1, OpenDuration: time.Second, SlowCall: time.Hour},
		} {
			b := breaker.New(cfg)
			abort := func(context.Context) error { panic(http.ErrAbortHandler) }
			require.PanicsWithValue(t, http.ErrAbortHandler, func() { _ = call(b, abort) })
			require.Equal(t, breaker.Closed, b.State())
			assert.Equal(t, uint64(1), b.Metrics().Ignored)
			// Another panic is a failure.
			require.PanicsWithValue(t, "bang", func() { _ = call(b, func(context.Context) error { panic("bang") }) })
			require.Equal(t, breaker.Open, b.State())
			// An aborted probe frees its slot.
			time.Sleep(time.Second)
			require.PanicsWithValue(t, http.ErrAbortHandler, func() { _ = call(b, abort) })
			require.Equal(t, breaker.HalfOpen, b.State())
			require.NoError(t, call(b, ok))
			require.Equal(t, breaker.Closed, b.State())
		}
	})
}

// A call is slow when it takes at least Config.SlowCall: exactly the
// threshold is slow, one nanosecond less is not.
func TestSlowCallBoundary(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{WindowCalls: 10, SlowCall: time.Second})
		require.NoError(t, call(b, sleepy(time.Second-time.Nanosecond, nil)))
		assert.Zero(t, b.Metrics().SlowCalls, "below the threshold")
		require.NoError(t, call(b, sleepy(time.Second, nil)))
		assert.Equal(t, uint64(1), b.Metrics().SlowCalls, "at the threshold")
	})
}

// Rejections are values of their own: changing one changes no other.
func TestRejectionsNotShared(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{})
	b.ForceOpen()
	first := call(b, ok)
	tamper(first)
	requireOpen(t, call(b, ok), breaker.ForcedOpen, 0)
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
		case reflect.Int, reflect.Int64, reflect.Uint8:
			if f.CanInt() {
				f.SetInt(f.Int() + 3)
			} else {
				f.SetUint(f.Uint() + 3)
			}
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Interface:
			f.Set(reflect.ValueOf(errors.New("tampered")))
		}
	}
}

// MaxKeys means in a breaker.Group what it means in a bulkhead.Group,
// with the same default: 1024 breakers are kept before any is dropped.
func TestGroupDefaultMaxKeys(t *testing.T) {
	t.Parallel()
	g := breaker.NewGroup(breaker.GroupConfig{})
	for i := range 1024 {
		_ = g.Get(strconv.Itoa(i))
	}
	assert.Equal(t, 1024, g.Len())
}

// The README's chain puts a bulkhead inside the breaker: a burst that
// fills the bulkhead must not open the breaker of a healthy dependency.
func TestFullBulkheadInsideDoesNotTrip(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.Config{})
		p := resilience.Chain(b, bulkhead.New(1, bulkhead.Config{}))
		gate := make(chan struct{})
		done := make(chan error)
		go func() { done <- p.Do(context.Background(), func(context.Context) error { <-gate; return nil }) }()
		synctest.Wait()
		for range 2 * breaker.DefaultConsecutiveFailures {
			require.ErrorIs(t, p.Do(context.Background(), ok), bulkhead.ErrFull)
		}
		close(gate)
		require.NoError(t, <-done)
		require.Equal(t, breaker.Closed, b.State())
	})
}

// resilience.None says "none" where the default is not: no consecutive
// rule beside a window (as zero does there), no minimum of calls.
func TestNone(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{WindowCalls: 10, MinCalls: resilience.None, ConsecutiveFailures: resilience.None})
	require.ErrorIs(t, call(b, fail), errBoom)
	require.Equal(t, breaker.Open, b.State(), "1 of 1 calls failed, and no minimum")
	for _, cfg := range []breaker.Config{
		{ConsecutiveFailures: resilience.None}, // no trip rule left
		{MinCalls: resilience.None},            // without a window
		{ConsecutiveFailures: -2},
	} {
		assert.Panics(t, func() { breaker.New(cfg) }, "%+v", cfg)
	}
}

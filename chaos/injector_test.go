package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// The Policy contract, where it goes beyond what the contract kit checks
// (contract_test.go): op runs exactly once, a hang is cut short, a panic is
// recorded.

func TestContractOpOnceWithCallerContext(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	opErr := errors.New("op")
	inj := chaos.Policy(chaos.Fault{When: chaos.Rate(0.5, 1), Delay: chaos.Fixed(0)})
	calls := 0
	err := inj.Do(ctx, func(c context.Context) error {
		calls++
		assert.Equal(t, "v", c.Value(ctxKey{}), "op gets the caller's context")
		return opErr
	})
	assert.Equal(t, 1, calls)
	assert.Same(t, opErr, err, "op's error is returned as it is")
}

func TestContractCancelStopsWaiting(t *testing.T) {
	t.Parallel()
	for _, f := range []chaos.Fault{
		{Delay: chaos.Fixed(time.Hour)},
		{Action: chaos.Hang()},
		{Delay: chaos.Fixed(time.Hour), Action: chaos.Status(503)},
	} {
		synctest.Test(t, func(t *testing.T) {
			inj := chaos.Policy(f)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() {
				done <- inj.Do(ctx, func(context.Context) error { return nil })
			}()
			time.Sleep(time.Minute)
			synctest.Wait()
			start := time.Now()
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			assert.Zero(t, time.Since(start), "no time passes between the cancel and the return")
		})
	}
	// A context already done: the delay is not waited at all.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := chaos.Policy(chaos.Fault{Delay: chaos.Fixed(time.Hour)}).Do(ctx, func(context.Context) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
}

func TestContractPanicInOp(t *testing.T) {
	t.Parallel()
	rec := &chaos.Recorder{}
	inj := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{Delay: chaos.Fixed(0)})
	boom := &struct{ msg string }{"boom"}
	assert.PanicsWithValue(t, boom, func() {
		_ = inj.Do(context.Background(), func(context.Context) error { panic(boom) })
	}, "the panic goes on unchanged")
	a := rec.Attempts()
	require.Len(t, a, 1)
	assert.True(t, a[0].Panicked, "the panic is recorded as a failure")
	// The injector still works (nothing to restore but counters).
	require.NoError(t, inj.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Equal(t, uint64(2), inj.Metrics().Calls)
}

func TestComposesWithChain(t *testing.T) {
	t.Parallel()
	retries := 0
	retry := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		for {
			err := op(ctx)
			if err == nil || retries == 5 {
				return err
			}
			retries++
		}
	})
	inj := chaos.Policy(chaos.Fault{When: chaos.First(3), Action: chaos.ConnReset()})
	got, err := resilience.Do(context.Background(), resilience.Chain(retry, inj), func(context.Context) (string, error) {
		return "ok", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "ok", got)
	assert.Equal(t, 3, retries)
	assert.Equal(t, uint64(3), inj.Metrics().Injected[chaos.KindConnReset])
}

func TestEnabledSwitch(t *testing.T) {
	t.Parallel()
	inj := chaos.New(chaos.Config{Disabled: true}, chaos.Fault{Action: chaos.Error(chaos.ErrInjected)})
	op := func(context.Context) error { return nil }
	assert.False(t, inj.Enabled())
	require.NoError(t, inj.Do(context.Background(), op))
	inj.SetEnabled(true)
	assert.True(t, inj.Enabled())
	require.ErrorIs(t, inj.Do(context.Background(), op), chaos.ErrInjected)
	inj.SetEnabled(false)
	require.NoError(t, inj.Do(context.Background(), op))
	assert.Equal(t, uint64(1), inj.Metrics().Calls, "calls are counted while enabled only")
	assert.Equal(t, uint64(1), inj.Metrics().Injected[chaos.KindError])
}

// TestEnabledSwitchHammer flips the switch while many goroutines call
// through Do, Transport and Handler, with and without a recorder; run it
// with -race. Every call is either injected or not, and the counts agree.
func TestEnabledSwitchHammer(t *testing.T) {
	t.Parallel()
	for _, rec := range []*chaos.Recorder{nil, {}} {
		t.Run(fmt.Sprint("recorder=", rec != nil), func(t *testing.T) {
			t.Parallel()
			hammer(t, rec)
		})
	}
}

func hammer(t *testing.T, rec *chaos.Recorder) {
	var hooked atomic.Uint64
	inj := chaos.New(chaos.Config{Recorder: rec, OnInject: func(context.Context, chaos.Kind, chaos.Call) { hooked.Add(1) }},
		chaos.Fault{When: chaos.Rate(0.5, 11), Action: chaos.Error(chaos.ErrInjected)})
	rt := inj.Transport(&tracker{})
	h := inj.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	const goroutines, each = 6, 300
	target, _ := url.Parse("http://api.test/")
	var failed atomic.Uint64
	stop := make(chan struct{})
	var flips sync.WaitGroup
	flips.Go(func() {
		for on := false; ; on = !on {
			select {
			case <-stop:
				return
			default:
				inj.SetEnabled(on)
			}
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				switch g % 3 {
				case 0:
					if inj.Do(context.Background(), func(context.Context) error { return nil }) != nil {
						failed.Add(1)
					}
				case 1:
					req, _ := http.NewRequest("GET", "http://api.test/", nil)
					resp, err := rt.RoundTrip(req)
					if err != nil {
						failed.Add(1)
					} else {
						_ = resp.Body.Close()
					}
				case 2:
					w := &headerRecorder{}
					h.ServeHTTP(w, &http.Request{Method: "GET", URL: target, Header: http.Header{}})
					if w.code == 500 {
						failed.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flips.Wait()
	assert.Equal(t, failed.Load(), inj.Metrics().Injected[chaos.KindError])
	assert.Equal(t, hooked.Load(), inj.Metrics().Injected[chaos.KindError])
	assert.LessOrEqual(t, inj.Metrics().Injected[chaos.KindError], inj.Metrics().Calls)
	assert.LessOrEqual(t, inj.Metrics().Calls, uint64(goroutines*each))
	if rec != nil {
		assert.Equal(t, goroutines*each, rec.Len(), "a recorder sees every call, enabled or not")
		injected := 0
		for _, a := range rec.Attempts() {
			if a.Injected(chaos.KindError) {
				injected++
			}
		}
		assert.Equal(t, failed.Load(), uint64(injected))
	}
}

// headerRecorder is a minimal ResponseWriter, safe to make per call.
type headerRecorder struct {
	h    http.Header
	code int
}

func (w *headerRecorder) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerRecorder) WriteHeader(code int)        { w.code = code }

func TestOnInject(t *testing.T) {
	t.Parallel()
	var got []string
	inj := chaos.New(chaos.Config{OnInject: func(_ context.Context, k chaos.Kind, c chaos.Call) {
		got = append(got, k.String()+"@"+c.Key)
	}},
		chaos.Fault{Delay: chaos.Fixed(time.Nanosecond)},
		chaos.Fault{Delay: chaos.Fixed(0)}, // a zero delay is no latency
		chaos.Fault{When: chaos.Every(2), Action: chaos.Status(502)},
	)
	ctx := resilience.WithKey(context.Background(), "svc")
	for range 2 {
		_ = inj.Do(ctx, func(context.Context) error { return nil })
	}
	assert.Equal(t, []string{"latency@svc", "latency@svc", "status@svc"}, got)
	assert.Equal(t, uint64(2), inj.Metrics().Injected[chaos.KindLatency])
	assert.Equal(t, uint64(1), inj.Metrics().Injected[chaos.KindStatus])
}

type traceKey struct{}

// OnInject gets the call's context: the ctx of Do, the request's context
// for Transport and Handler.
func TestOnInjectGetsTheCallsContext(t *testing.T) {
	t.Parallel()
	var got []any
	inj := chaos.New(chaos.Config{Name: "db", OnInject: func(ctx context.Context, _ chaos.Kind, _ chaos.Call) {
		got = append(got, ctx.Value(traceKey{}))
	}}, chaos.Fault{Action: chaos.Status(503)})
	assert.Equal(t, "db", inj.Name())
	ctx := context.WithValue(context.Background(), traceKey{}, "trace-1")
	_ = inj.Do(ctx, func(context.Context) error { return nil })

	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://orders.test/", nil)
	resp, err := inj.Transport(http.DefaultTransport).RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	inj.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, []any{"trace-1", "trace-1", "trace-1"}, got)
	m := inj.Metrics()
	assert.Equal(t, uint64(3), m.Calls)
	assert.Equal(t, uint64(3), m.Injected[chaos.KindStatus])
}

package chaos_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// checkNetError asserts what production code that classifies network
// errors would see.
func checkNetError(t *testing.T, k chaos.Kind, err error) {
	t.Helper()
	require.Error(t, err)
	if k == chaos.KindEOF {
		assert.Same(t, io.EOF, err) // code compares err == io.EOF
		return
	}
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "tcp", op.Net)
	switch k {
	case chaos.KindConnReset:
		assert.Equal(t, "read", op.Op)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		assert.False(t, ne.Timeout())
		assert.Contains(t, err.Error(), "connection reset by peer")
	case chaos.KindConnRefused:
		assert.Equal(t, "dial", op.Op)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.False(t, ne.Timeout())
		assert.Contains(t, err.Error(), "connect: connection refused")
	case chaos.KindDialTimeout:
		assert.Equal(t, "dial", op.Op)
		assert.True(t, ne.Timeout())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.True(t, os.IsTimeout(err))
		assert.Contains(t, err.Error(), "i/o timeout")
	default:
		t.Fatalf("not a network kind: %v", k)
	}
}

func TestDoActions(t *testing.T) {
	t.Parallel()
	type statusErr = resilience.StatusError
	tests := []struct {
		name   string
		action chaos.Action
		kind   chaos.Kind
		check  func(t *testing.T, err error)
	}{
		{"error", chaos.Error(chaos.ErrInjected), chaos.KindError, func(t *testing.T, err error) {
			require.ErrorIs(t, err, chaos.ErrInjected)
		}},
		{"status with Retry-After", chaos.Status(503, "Retry-After", "2"), chaos.KindStatus, func(t *testing.T, err error) {
			var se *statusErr
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 503, se.Code)
			assert.Nil(t, se.Response)
			d, ok := resilience.RetryAfter(err)
			assert.True(t, ok)
			assert.Equal(t, 2*time.Second, d)
		}},
		{"status 429 without Retry-After", chaos.Status(429), chaos.KindStatus, func(t *testing.T, err error) {
			var se *statusErr
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 429, se.Code)
			_, ok := resilience.RetryAfter(err)
			assert.False(t, ok)
		}},
		{"conn reset", chaos.ConnReset(), chaos.KindConnReset, nil},
		{"conn refused", chaos.ConnRefused(), chaos.KindConnRefused, nil},
		{"eof", chaos.EOF(), chaos.KindEOF, nil},
		{"dial timeout", chaos.DialTimeout(), chaos.KindDialTimeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inj := chaos.Policy(chaos.Fault{Action: tt.action})
			called := false
			err := inj.Do(resilience.WithKey(context.Background(), "db:5432"), func(context.Context) error {
				called = true
				return nil
			})
			assert.False(t, called, "an action that ends the call must not call op")
			if tt.check != nil {
				tt.check(t, err)
			} else {
				checkNetError(t, tt.kind, err)
			}
			assert.Equal(t, uint64(1), inj.Metrics().Injected[tt.kind])
			assert.Equal(t, uint64(1), inj.Metrics().Calls)
			assert.Equal(t, tt.kind, tt.action.Kind())
		})
	}
}

func TestDoPanic(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	inj := chaos.Policy(chaos.Fault{Action: chaos.Panic(boom)})
	called := false
	assert.PanicsWithValue(t, boom, func() {
		_ = inj.Do(context.Background(), func(context.Context) error { called = true; return nil })
	})
	assert.False(t, called)
	assert.Equal(t, uint64(1), inj.Metrics().Injected[chaos.KindPanic])
}

func TestDoHangEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inj := chaos.Policy(chaos.Fault{Action: chaos.Hang()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := inj.Do(ctx, func(context.Context) error { t.Error("op called"); return nil })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 5*time.Second, time.Since(start))
	})
}

func TestDoLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inj := chaos.Policy(chaos.Fault{Delay: chaos.Fixed(300 * time.Millisecond)})
		start := time.Now()
		var at time.Duration
		err := inj.Do(context.Background(), func(context.Context) error {
			at = time.Since(start)
			return errors.New("op failed")
		})
		require.EqualError(t, err, "op failed", "op's error is returned")
		assert.Equal(t, 300*time.Millisecond, at)
		assert.Equal(t, uint64(1), inj.Metrics().Injected[chaos.KindLatency])
	})
}

func TestDoLatencyCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inj := chaos.Policy(chaos.Fault{Delay: chaos.Fixed(time.Hour)})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := inj.Do(ctx, func(context.Context) error { t.Error("op called"); return nil })
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "a cancelled context stops the wait at once")
	})
}

func TestDoDelaysAddUpAndEndStopsTheScan(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		later := 0
		rec := &chaos.Recorder{}
		inj := chaos.New(chaos.Config{Recorder: rec},
			chaos.Fault{Delay: chaos.Fixed(time.Second)},
			chaos.Fault{Delay: chaos.Fixed(2 * time.Second), Action: chaos.Error(chaos.ErrInjected)},
			chaos.Fault{When: func(chaos.Call) bool { later++; return true }, Action: chaos.EOF()},
		)
		start := time.Now()
		err := inj.Do(context.Background(), func(context.Context) error { return nil })
		require.ErrorIs(t, err, chaos.ErrInjected)
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.Zero(t, later, "faults after the one that ends the call are not considered")
		a := rec.Attempts()
		require.Len(t, a, 1)
		assert.Equal(t, []chaos.Kind{chaos.KindLatency, chaos.KindLatency, chaos.KindError}, a[0].Faults)
		assert.Equal(t, 3*time.Second, a[0].Delay)
		assert.Equal(t, uint64(2), inj.Metrics().Injected[chaos.KindLatency])
	})
}

func TestDoIgnoresBodyFaults(t *testing.T) {
	t.Parallel()
	asked := 0
	inj := chaos.Policy(
		chaos.Fault{When: func(chaos.Call) bool { asked++; return true }, Action: chaos.TruncateBody(1)},
		chaos.Fault{Action: chaos.SlowBody(1, time.Hour)},
		chaos.Fault{Action: chaos.BodyError(0, nil)},
	)
	calls := 0
	require.NoError(t, inj.Do(context.Background(), func(context.Context) error { calls++; return nil }))
	assert.Equal(t, 1, calls)
	assert.Zero(t, asked, "body faults are not considered for Do")
	for _, k := range []chaos.Kind{chaos.KindTruncateBody, chaos.KindSlowBody, chaos.KindBodyError} {
		assert.Zero(t, inj.Metrics().Injected[k])
	}
}

func TestConstructorsPanic(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msg  string
		f    func()
	}{
		{"empty fault", "chaos: fault 1 has neither a Delay nor an Action", func() {
			chaos.New(chaos.Config{}, chaos.Fault{Action: chaos.EOF()}, chaos.Fault{When: chaos.First(1)})
		}},
		{"nil error", "chaos: Error with a nil error", func() { chaos.Error(nil) }},
		{"status 99", "chaos: Status code 99 outside 200-599", func() { chaos.Status(99) }},
		{"status 600", "chaos: Status code 600 outside 200-599", func() { chaos.Status(600) }},
		{"odd headers", "chaos: Status headers must be name, value pairs", func() { chaos.Status(503, "Retry-After") }},
		{"slow chunk", "chaos: SlowBody needs chunk >= 1 and every >= 0", func() { chaos.SlowBody(0, time.Second) }},
		{"slow every", "chaos: SlowBody needs chunk >= 1 and every >= 0", func() { chaos.SlowBody(1, -1) }},
		{"truncate", "chaos: TruncateBody with n < 0", func() { chaos.TruncateBody(-1) }},
		{"body error", "chaos: BodyError with n < 0", func() { chaos.BodyError(-1, nil) }},
		{"nil panic", "chaos: Panic with a nil value", func() { chaos.Panic(nil) }},
		{"rate high", "chaos: Rate p outside [0, 1]", func() { chaos.Rate(1.5, 1) }},
		{"rate negative", "chaos: Rate p outside [0, 1]", func() { chaos.Rate(-0.1, 1) }},
		{"first", "chaos: First with n < 0", func() { chaos.First(-1) }},
		{"every", "chaos: Every with n < 1", func() { chaos.Every(0) }},
		{"script", "chaos: empty Script", func() { chaos.Script("") }},
		{"cycle", "chaos: empty Cycle", func() { chaos.Cycle("") }},
		{"between", "chaos: Between with end before start", func() { chaos.Between(t0.Add(time.Second), t0) }},
		{"not", "chaos: Not with a nil condition", func() { chaos.Not(nil) }},
		{"path", "chaos: bad Path pattern [: syntax error in pattern", func() { chaos.Path("[") }},
		{"fixed", "chaos: Fixed with a negative duration", func() { chaos.Fixed(-1) }},
		{"uniform", "chaos: Uniform needs 0 <= lo <= hi", func() { chaos.Uniform(2, 1, 0) }},
		{"exponential mean", "chaos: Exponential needs mean > 0 and limit >= 0", func() { chaos.Exponential(0, 0, 0) }},
		{"exponential limit", "chaos: Exponential needs mean > 0 and limit >= 0", func() { chaos.Exponential(1, -1, 0) }},
		{"nil handler", "chaos: Handler with a nil handler", func() { chaos.Policy().Handler(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.msg, tt.f)
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := map[chaos.Kind]string{
		chaos.KindLatency: "latency", chaos.KindError: "error", chaos.KindStatus: "status",
		chaos.KindHang: "hang", chaos.KindConnReset: "conn-reset", chaos.KindConnRefused: "conn-refused",
		chaos.KindEOF: "eof", chaos.KindDialTimeout: "dial-timeout", chaos.KindSlowBody: "slow-body",
		chaos.KindTruncateBody: "truncate-body", chaos.KindBodyError: "body-error", chaos.KindPanic: "panic",
		0: "none", 200: "Kind(200)",
	}
	for k, want := range tests {
		assert.Equal(t, want, k.String())
	}
	assert.Zero(t, chaos.Action{}.Kind())
}

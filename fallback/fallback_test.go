package fallback_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/timelimit"
)

var errDown = errors.New("dependency down")

// fails is an op of resilience.Do that always fails with err.
func fails[T any](err error) func(context.Context) (T, error) {
	return func(context.Context) (T, error) {
		var zero T
		return zero, err
	}
}

func succeeds[T any](v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) { return v, nil }
}

// kinds returns m.Fallbacks as a map of the non-zero counts, for
// readable assertions.
func kinds(m fallback.Metrics) map[fallback.Kind]uint64 {
	out := map[fallback.Kind]uint64{}
	for k, n := range m.Fallbacks {
		if n > 0 {
			out[fallback.Kind(k)] = n
		}
	}
	return out
}

func TestConstructionPanics(t *testing.T) {
	t.Parallel()
	sub := fallback.Value(1)
	cases := []struct {
		name string
		make func()
		msg  string
	}{
		{"New nil sub without Stale", func() { fallback.New[int](nil, fallback.Config{}) },
			"fallback: New with a nil sub and no Stale: nothing to answer with"},
		{"negative Stale", func() { fallback.New(sub, fallback.Config{Stale: -time.Second}) },
			"fallback: negative Stale -1s"},
		{"Stale None", func() { fallback.New(sub, fallback.Config{Stale: resilience.None}) },
			"fallback: negative Stale -1ns"},
		{"negative MaxKeys", func() { fallback.New(sub, fallback.Config{Stale: time.Second, MaxKeys: -1}) },
			"fallback: negative MaxKeys -1"},
		{"MaxKeys without Stale", func() { fallback.New(sub, fallback.Config{MaxKeys: 10}) },
			"fallback: MaxKeys without Stale: nothing is remembered"},
		{"Key without Stale", func() { fallback.New(sub, fallback.Config{Key: resilience.KeyFrom}) },
			"fallback: Key without Stale: nothing is remembered"},
		{"New[*http.Response] with Stale", func() { fallback.New[*http.Response](nil, fallback.Config{Stale: time.Second}) },
			"fallback: New[*http.Response] with Stale: a response's body belongs to its caller; use NewHTTP"},
		{"NewFunc nil alt", func() { fallback.NewFunc(nil, fallback.Config{}) }, "fallback: NewFunc with a nil alt"},
		{"NewFunc with Stale", func() {
			fallback.NewFunc(func(context.Context, error) error { return nil }, fallback.Config{Stale: time.Second})
		}, "fallback: NewFunc with Stale, MaxKeys or Key: alt writes its own result, there is no value to remember"},
		{"New with a typed nil Observer", func() { fallback.New(sub, fallback.Config{Observer: (*observetest.Log)(nil)}) },
			"fallback: Observer is a nil *observetest.Log"},
		{"NewHTTP with a nil ObserverFunc", func() {
			fallback.NewHTTP(fallback.StaticResponse(200, nil, ""), fallback.HTTPConfig{Observer: resilience.ObserverFunc(nil)})
		}, "fallback: Observer is a nil resilience.ObserverFunc"},
		{"NewHTTP nil respond without Stale", func() { fallback.NewHTTP(nil, fallback.HTTPConfig{}) },
			"fallback: NewHTTP with a nil respond and no Stale: nothing to answer with"},
		{"NewHTTP negative MaxBody", func() { fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Second, MaxBody: -1}) },
			"fallback: negative MaxBody -1"},
		{"NewHTTP negative MaxBytes", func() { fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Second, MaxBytes: -1}) },
			"fallback: negative MaxBytes -1"},
		{"NewHTTP MaxBody without Stale", func() { fallback.NewHTTP(fallback.StaticResponse(200, nil, ""), fallback.HTTPConfig{MaxBody: 10}) },
			"fallback: MaxBody or MaxBytes without Stale: nothing is remembered"},
		{"NewHTTP MaxBody over MaxBytes", func() {
			fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Second, MaxBody: 10, MaxBytes: 5})
		}, "fallback: MaxBody 10 exceeds MaxBytes 5"},
		{"NewHTTP default MaxBody over MaxBytes", func() { fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Second, MaxBytes: 5}) },
			"fallback: MaxBody 1048576 exceeds MaxBytes 5"},
		{"NewHTTP Key without Stale", func() {
			fallback.NewHTTP(fallback.StaticResponse(200, nil, ""), fallback.HTTPConfig{Key: fallback.DefaultKey})
		}, "fallback: Key without Stale: nothing is remembered"},
		{"StaticResponse bad status", func() { fallback.StaticResponse(42, nil, "") }, "fallback: StaticResponse with status 42"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, c.msg, c.make)
		})
	}
}

func TestValidConfigurations(t *testing.T) {
	t.Parallel()
	assert.NotPanics(t, func() {
		fallback.New[int](nil, fallback.Config{Stale: resilience.Forever, MaxKeys: 1, Key: resilience.KeyFrom})
		fallback.New(fallback.Value("x"), fallback.Config{Name: "n"})
		fallback.NewHTTP(nil, fallback.HTTPConfig{Stale: time.Second, MaxBody: 5, MaxBytes: 5, MaxKeys: 3, Key: fallback.DefaultKey})
	})
	assert.Equal(t, "rates", fallback.New(fallback.Value(1), fallback.Config{Name: "rates"}).Name())
	assert.Equal(t, "h", fallback.NewHTTP(fallback.StaticResponse(200, nil, ""), fallback.HTTPConfig{Name: "h"}).Name())
}

// Every failure kind of the issue, with a Fallback outside the policy that
// fails: an error, a time limit, an open breaker, a full bulkhead are
// answered; a panic and the caller's own cancel or deadline are not.
func TestFailureKinds(t *testing.T) {
	t.Parallel()
	type outcome struct {
		answered bool
		kind     fallback.Kind
	}
	cases := []struct {
		name string
		// run makes one call through fb and returns Do[int]'s value and
		// error, and what it expects of them.
		run  func(t *testing.T, fb *fallback.Fallback[int]) (int, error)
		want outcome
		err  error // the error Do returns when not answered
	}{
		{
			name: "error",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				return resilience.Do(context.Background(), fb, fails[int](errDown))
			},
			want: outcome{true, fallback.KindValue},
		},
		{
			name: "timeout of a time limit inside",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				p := resilience.Chain(fb, timelimit.New(50*time.Millisecond, timelimit.Config{}))
				return resilience.Do(context.Background(), p, func(ctx context.Context) (int, error) {
					<-ctx.Done()
					return 0, ctx.Err()
				})
			},
			want: outcome{true, fallback.KindValue},
		},
		{
			name: "open breaker",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				br := breaker.New(breaker.Config{})
				br.ForceOpen()
				return resilience.Do(context.Background(), resilience.Chain(fb, br), func(context.Context) (int, error) {
					t.Error("op ran through an open breaker")
					return 0, nil
				})
			},
			want: outcome{true, fallback.KindValue},
		},
		{
			name: "full bulkhead",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				bh := bulkhead.New(1, bulkhead.Config{})
				held, release := make(chan struct{}), make(chan struct{})
				go func() {
					_ = bh.Do(context.Background(), func(context.Context) error {
						close(held)
						<-release
						return nil
					})
				}()
				<-held
				defer close(release)
				return resilience.Do(context.Background(), resilience.Chain(fb, bh), succeeds(1))
			},
			want: outcome{true, fallback.KindValue},
		},
		{
			name: "caller cancel",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				ctx, cancel := context.WithCancel(context.Background())
				return resilience.Do(ctx, fb, func(ctx context.Context) (int, error) {
					cancel()
					return 0, ctx.Err()
				})
			},
			err: context.Canceled,
		},
		{
			name: "caller deadline",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				return resilience.Do(ctx, fb, func(ctx context.Context) (int, error) {
					<-ctx.Done()
					return 0, ctx.Err()
				})
			},
			err: context.DeadlineExceeded,
		},
		{
			name: "caller cancel with another error of op's",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return resilience.Do(ctx, fb, fails[int](errDown))
			},
			err: errDown,
		},
		{
			name: "op's own context.Canceled while the caller lives",
			run: func(t *testing.T, fb *fallback.Fallback[int]) (int, error) {
				return resilience.Do(context.Background(), fb, fails[int](context.Canceled))
			},
			want: outcome{true, fallback.KindValue},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var hooked []fallback.Kind
				fb := fallback.New(fallback.Value(-1), fallback.Config{
					OnFallback: func(ctx context.Context, err error, k fallback.Kind) { hooked = append(hooked, k) },
				})
				v, err := c.run(t, fb)
				m := fb.Metrics()
				assert.Equal(t, uint64(1), m.Failures)
				if c.want.answered {
					require.NoError(t, err)
					assert.Equal(t, -1, v)
					assert.Equal(t, map[fallback.Kind]uint64{c.want.kind: 1}, kinds(m))
					assert.Equal(t, []fallback.Kind{c.want.kind}, hooked)
					return
				}
				require.ErrorIs(t, err, c.err)
				assert.NotEqual(t, -1, v)
				assert.Equal(t, uint64(1), m.Unmatched)
				assert.Empty(t, kinds(m))
				assert.Empty(t, hooked, "OnFallback is for the failures Match accepted")
			})
		})
	}
}

// A panic in op goes on to the caller unchanged: no fallback, no count.
func TestPanicPropagates(t *testing.T) {
	t.Parallel()
	called := false
	fb := fallback.New(func(context.Context, error) (int, error) { called = true; return 1, nil }, fallback.Config{Stale: time.Minute})
	v := &struct{ s string }{"boom"}
	assert.PanicsWithValue(t, v, func() {
		_, _ = resilience.Do(context.Background(), fb, func(context.Context) (int, error) { panic(v) })
	})
	assert.False(t, called)
	assert.Equal(t, fallback.Metrics{}, fb.Metrics())
	// The fallback still works afterwards.
	got, err := resilience.Do(context.Background(), fb, fails[int](errDown))
	require.NoError(t, err)
	assert.Equal(t, 1, got)
}

func TestSuccessIsNotTouched(t *testing.T) {
	t.Parallel()
	called := false
	fb := fallback.New(func(context.Context, error) (string, error) { called = true; return "sub", nil }, fallback.Config{
		OnFallback: func(context.Context, error, fallback.Kind) { called = true },
	})
	v, err := resilience.Do(context.Background(), fb, succeeds("op"))
	require.NoError(t, err)
	assert.Equal(t, "op", v)
	assert.False(t, called)
	assert.Equal(t, fallback.Metrics{}, fb.Metrics())
}

func TestSubGetsTheFailureAndTheContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "caller's")
	fb := fallback.New(func(ctx context.Context, err error) (string, error) {
		return ctx.Value(key{}).(string) + " / " + err.Error(), nil
	}, fallback.Config{})
	v, err := resilience.Do(ctx, fb, fails[string](errDown))
	require.NoError(t, err)
	assert.Equal(t, "caller's / dependency down", v)
}

func TestSubFailure(t *testing.T) {
	t.Parallel()
	errSecondary := errors.New("secondary down too")
	fb := fallback.New(func(context.Context, error) (int, error) { return 7, errSecondary }, fallback.Config{})
	v, err := resilience.Do(context.Background(), fb, fails[int](errDown))
	require.ErrorIs(t, err, errSecondary)
	require.ErrorIs(t, err, errDown, "op's error is still found (rule 3)")
	var se *fallback.SubstituteError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, errSecondary, se.Err)
	assert.Equal(t, errDown, se.Cause)
	assert.EqualError(t, err, "fallback: substitute failed: secondary down too; op failed: dependency down")
	assert.Zero(t, v, "a failed sub's value is not handed over")
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindFailed: 1}, kinds(fb.Metrics()))
}

// The error protocols of op's error reach the policies outside through a
// SubstituteError: a local rejection stays one.
func TestSubFailureKeepsTheProtocols(t *testing.T) {
	t.Parallel()
	br := breaker.New(breaker.Config{})
	br.ForceOpen()
	fb := fallback.New(func(context.Context, error) (int, error) { return 0, errDown }, fallback.Config{})
	_, err := resilience.Do(context.Background(), resilience.Chain(fb, br), succeeds(1))
	require.ErrorIs(t, err, breaker.ErrOpen)
	assert.True(t, resilience.IsLocalRejection(err))
}

// Without a call of resilience.Do of its type, a Fallback cannot answer:
// it returns ErrNoResult and op's error, never a success without a value.
func TestNoResult(t *testing.T) {
	t.Parallel()
	fb := fallback.New(fallback.Value(42), fallback.Config{})
	plainOp := func(context.Context) error { return errDown }

	err := fb.Do(context.Background(), plainOp)
	require.ErrorIs(t, err, fallback.ErrNoResult)
	require.ErrorIs(t, err, errDown)
	assert.True(t, resilience.IsPermanent(err), "a retry cannot mend it")
	assert.EqualError(t, err, "fallback: no result to answer into: the context holds no call of resilience.Do[int]; op failed: dependency down")

	v, err := resilience.Do(context.Background(), fb, fails[string](errDown))
	require.ErrorIs(t, err, fallback.ErrNoResult)
	require.ErrorIs(t, err, errDown)
	assert.Empty(t, v)
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindNoResult: 2}, kinds(fb.Metrics()))

	// A value of a type the call cannot hold is no answer either: not an
	// interface it would fit, nor a named type of the same underlying one.
	type celsius float64
	fc := fallback.New(fallback.Value(celsius(20)), fallback.Config{})
	_, err = resilience.Do(context.Background(), fc, fails[float64](errDown))
	require.ErrorIs(t, err, fallback.ErrNoResult)
	assert.Contains(t, err.Error(), "resilience.Do[fallback_test.celsius]")
	fa := fallback.New(fallback.Value[any](1), fallback.Config{})
	_, err = resilience.Do(context.Background(), fa, fails[int](errDown))
	require.ErrorIs(t, err, fallback.ErrNoResult)
	assert.Contains(t, err.Error(), "resilience.Do[interface {}]")
}

// A success under plain Policy.Do is a success: nothing to answer, nothing
// to remember.
func TestNoResultOnSuccessIsASuccess(t *testing.T) {
	t.Parallel()
	fb := fallback.New(fallback.Value(42), fallback.Config{Stale: time.Minute})
	require.NoError(t, fb.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Zero(t, fb.Metrics().Stored)
}

func TestMatch(t *testing.T) {
	t.Parallel()
	errNotFound := errors.New("not found")
	var seen []error
	fb := fallback.New(fallback.Value("default"), fallback.Config{
		Match: func(ctx context.Context, err error) bool {
			seen = append(seen, err)
			return !errors.Is(err, errNotFound) && fallback.DefaultMatch(ctx, err)
		},
	})
	v, err := resilience.Do(context.Background(), fb, fails[string](errNotFound))
	require.ErrorIs(t, err, errNotFound)
	assert.Empty(t, v)
	v, err = resilience.Do(context.Background(), fb, fails[string](errDown))
	require.NoError(t, err)
	assert.Equal(t, "default", v)
	assert.Equal(t, []error{errNotFound, errDown}, seen)
	m := fb.Metrics()
	assert.Equal(t, uint64(2), m.Failures)
	assert.Equal(t, uint64(1), m.Unmatched)

	// A Match of one's own replaces DefaultMatch: this one answers a
	// cancelled caller too.
	always := fallback.New(fallback.Value("default"), fallback.Config{Match: func(context.Context, error) bool { return true }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err = resilience.Do(ctx, always, fails[string](context.Canceled))
	require.NoError(t, err)
	assert.Equal(t, "default", v)
}

func TestDefaultMatch(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	assert.True(t, fallback.DefaultMatch(context.Background(), errDown))
	assert.True(t, fallback.DefaultMatch(context.Background(), context.Canceled))
	assert.False(t, fallback.DefaultMatch(cancelled, errDown))
	assert.False(t, fallback.DefaultMatch(cancelled, context.Canceled))
}

// A time limit outside the fallback (a policy's deadline, not the
// caller's) is not the caller giving up: DefaultMatch answers it, though the
// time limit then reports its timeout anyway — which is why the doc puts
// the total time limit inside.
func TestPolicyDeadlineOutsideIsNotTheCallers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fb := fallback.New(fallback.Value(1), fallback.Config{})
		p := resilience.Chain(timelimit.New(10*time.Millisecond, timelimit.Config{}), fb)
		_, err := resilience.Do(context.Background(), p, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		assert.Equal(t, map[fallback.Kind]uint64{fallback.KindValue: 1}, kinds(fb.Metrics()))
	})
}

func TestNewFunc(t *testing.T) {
	t.Parallel()
	var got []string
	var mu sync.Mutex
	alt := func(ctx context.Context, err error) error {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errDown) {
			got = append(got, "alt for "+err.Error())
			return nil
		}
		return errors.New("alt failed")
	}
	fb := fallback.NewFunc(alt, fallback.Config{})

	require.NoError(t, fb.Do(context.Background(), func(context.Context) error { return errDown }))
	assert.Equal(t, []string{"alt for dependency down"}, got)

	other := errors.New("other")
	err := fb.Do(context.Background(), func(context.Context) error { return other })
	var se *fallback.SubstituteError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, other)
	assert.EqualError(t, se.Err, "alt failed")

	// Under resilience.Do the value is op's: alt writes its own result.
	v, err := resilience.Do(context.Background(), fb, func(context.Context) (int, error) { return 3, errDown })
	require.NoError(t, err)
	assert.Equal(t, 3, v)

	// No fallback for a cancelled caller.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, fb.Do(ctx, func(ctx context.Context) error { return ctx.Err() }), context.Canceled)

	m := fb.Metrics()
	assert.Equal(t, uint64(4), m.Failures)
	assert.Equal(t, uint64(1), m.Unmatched)
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindValue: 2, fallback.KindFailed: 1}, kinds(m))
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, s := range map[fallback.Kind]string{
		fallback.KindValue: "value", fallback.KindStale: "stale", fallback.KindFailed: "failed",
		fallback.KindNoValue: "no value", fallback.KindNoResult: "no result", 0: "fallback.Kind(0)", 9: "fallback.Kind(9)",
	} {
		assert.Equal(t, s, k.String())
	}
}

// OnFallback runs on the caller's goroutine, with the caller's context,
// before Do returns.
func TestOnFallbackRunsOnTheCallersGoroutine(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	returned := false
	fb := fallback.New(fallback.Value(1), fallback.Config{
		OnFallback: func(ctx context.Context, err error, k fallback.Kind) {
			assert.False(t, returned)
			assert.Equal(t, 1, ctx.Value(key{}))
			assert.Equal(t, errDown, err)
			assert.Equal(t, fallback.KindValue, k)
		},
	})
	_, err := resilience.Do(ctx, fb, fails[int](errDown))
	returned = true
	require.NoError(t, err)
}

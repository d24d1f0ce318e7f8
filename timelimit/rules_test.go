package timelimit_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

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
		case reflect.Int64:
			f.SetInt(f.Int() + 97)
		case reflect.Interface:
			f.Set(reflect.ValueOf(errors.New("tampered")))
		}
	}
}

// Errors handed to callers are not shared mutable values: whatever a
// caller does to the timeout it got, or to the cause of its context, the
// next caller's is intact.
func TestTimeoutNotShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := timelimit.New(time.Second, timelimit.Config{})
		hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		var cause error
		first := l.Do(t.Context(), func(ctx context.Context) error {
			defer func() { cause = context.Cause(ctx) }()
			return hang(ctx)
		})
		want := first.Error()
		tamper(first)
		tamper(cause)

		var cause2 error
		second := l.Do(t.Context(), func(ctx context.Context) error {
			defer func() { cause2 = context.Cause(ctx) }()
			return hang(ctx)
		})
		assert.Equal(t, want, second.Error())
		assert.Equal(t, "timelimit: timed out after 1s", cause2.Error())
	})
}

// A timeout is not a local rejection: the call reached the dependency,
// which did not answer in time.
func TestTimeoutIsNotALocalRejection(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		err := timelimit.New(time.Second, timelimit.Config{}).Do(t.Context(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		assert.False(t, resilience.IsLocalRejection(err))
	})
}

// Grace None says "no grace": an op returning at all after the deadline
// is late.
func TestGraceNone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var late []time.Duration
		l := timelimit.New(time.Second, timelimit.Config{
			Grace:  resilience.None,
			OnLate: func(_ context.Context, d time.Duration) { late = append(late, d) },
		})
		err := l.Do(t.Context(), func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(time.Millisecond)
			return ctx.Err()
		})
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		assert.Equal(t, []time.Duration{time.Millisecond}, late)
	})
}

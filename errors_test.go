package resilience_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
)

type notPermanent struct{ error }

func (notPermanent) Permanent() bool { return false }

type waitErr time.Duration

func (w waitErr) Error() string             { return "wait" }
func (w waitErr) RetryAfter() time.Duration { return time.Duration(w) }

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("bad request")
	assert.NoError(t, resilience.Permanent(nil))
	assert.False(t, resilience.IsPermanent(nil))
	assert.False(t, resilience.IsPermanent(base))

	p := resilience.Permanent(base)
	assert.True(t, resilience.IsPermanent(p))
	assert.ErrorIs(t, p, base)
	assert.Equal(t, "bad request", p.Error())
	assert.Same(t, p, resilience.Permanent(p), "marking twice wraps once")

	wrapped := fmt.Errorf("call: %w", p)
	assert.True(t, resilience.IsPermanent(wrapped))
	assert.True(t, resilience.IsPermanent(errors.Join(errors.New("other"), p)))
	assert.False(t, resilience.IsPermanent(notPermanent{base}))
}

func TestRetryAfterProtocol(t *testing.T) {
	t.Parallel()
	d, ok := resilience.RetryAfter(fmt.Errorf("x: %w", waitErr(3*time.Second)))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	for _, err := range []error{nil, errors.New("plain"), waitErr(0), waitErr(-time.Second)} {
		d, ok = resilience.RetryAfter(err)
		assert.False(t, ok)
		assert.Zero(t, d)
	}
}

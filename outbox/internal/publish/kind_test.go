package publish_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/internal/publish"
)

// testError is a publisher's error as the publishers of this repository
// write it: its own fields, a kind, and Is implemented by the kind.
type testError struct {
	id, dest string
	err      error
	kind     *publish.Kind
}

func (e *testError) Error() string {
	return publish.ErrorText("outbox/test", e.id, e.dest, e.kind, e.err)
}

func (e *testError) Is(target error) bool { return e.kind.Match(target) }

func (e *testError) Unwrap() error { return e.err }

var (
	errTestRejected    = publish.NewKind("outbox/test", "rejected by the broker", false)
	errTestUnavailable = publish.NewKind("outbox/test", "broker unavailable", true)
	errTestTimeout     = publish.NewKind("outbox/test", "no acknowledgement in time", true)
)

func TestKind(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	kinds := []*publish.Kind{errTestRejected, errTestUnavailable, errTestTimeout}
	tests := []struct {
		name        string
		kind        *publish.Kind
		unavailable bool
		text        string
	}{
		{"rejected", errTestRejected, false, "outbox/test: message m1 to orders: rejected by the broker: boom"},
		{"unavailable", errTestUnavailable, true, "outbox/test: message m1 to orders: broker unavailable: boom"},
		{"timeout", errTestTimeout, true, "outbox/test: message m1 to orders: no acknowledgement in time: boom"},
		{"no kind", nil, false, "outbox/test: message m1 to orders: publish failed: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error = &testError{id: "m1", dest: "orders", err: cause, kind: tt.kind}
			assert.Equal(t, tt.text, err.Error())
			assert.Equal(t, tt.unavailable, tt.kind.Unavailable())
			assert.Equal(t, tt.unavailable, errors.Is(err, outbox.ErrUnavailable))
			assert.ErrorIs(t, err, cause, "unwraps to the cause")
			assert.NotErrorIs(t, err, outbox.ErrNotSent)
			assert.False(t, tt.kind.Match(nil))
			for _, k := range kinds {
				assert.Equal(t, k == tt.kind, errors.Is(err, k), "matches %v", k)
			}
			wrapped := fmt.Errorf("relay: %w", err)
			assert.Equal(t, tt.unavailable, errors.Is(wrapped, outbox.ErrUnavailable), "through a wrapper")
		})
	}
}

func TestKindError(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "outbox/test: rejected by the broker", errTestRejected.Error())
	assert.NotErrorIs(t, errTestTimeout, outbox.ErrUnavailable, "the sentinel is a kind, not a failure")
	other := publish.NewKind("outbox/test", "rejected by the broker", false)
	assert.NotErrorIs(t, &testError{kind: other}, errTestRejected, "kinds are matched by identity")
}

func TestNewKindPanics(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ prefix, what string }{{"", "x"}, {"outbox/test", ""}} {
		require.PanicsWithValue(t, "outbox/internal/publish: NewKind needs a prefix and a description", func() {
			publish.NewKind(tt.prefix, tt.what, false)
		})
	}
}

func TestKindText(t *testing.T) {
	t.Parallel()
	errRejected := publish.NewKind("outbox/mybroker", "rejected by the broker", false)
	errDown := publish.NewKind("outbox/mybroker", "broker unavailable", true)
	assert.Equal(t, "outbox/mybroker: rejected by the broker", errRejected.Error())
	assert.False(t, errRejected.Unavailable())
	assert.True(t, errDown.Unavailable())
	assert.Equal(t, "outbox/mybroker: message m1 to orders: broker unavailable: connection refused",
		publish.ErrorText("outbox/mybroker", "m1", "orders", errDown, errors.New("connection refused")))
}

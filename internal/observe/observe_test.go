package observe_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

type obs struct{}

func (*obs) Observe(context.Context, resilience.Event) {}

func TestCheck(t *testing.T) {
	t.Parallel()
	assert.NotPanics(t, func() { observe.Check("pkg", nil) })
	assert.NotPanics(t, func() { observe.Check("pkg", &obs{}) })
	assert.NotPanics(t, func() { observe.Check("pkg", resilience.ObserverFunc(func(context.Context, resilience.Event) {})) })
	var p *obs
	assert.PanicsWithValue(t, "pkg: Observer is a nil *observe_test.obs", func() { observe.Check("pkg", p) })
	var f resilience.ObserverFunc
	assert.PanicsWithValue(t, "pkg: Observer is a nil resilience.ObserverFunc", func() { observe.Check("pkg", f) })
}

//go:build !race

package resilience_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
)

// passthrough is a policy that adds nothing, to measure Chain's own cost.
type passthrough struct{}

func (passthrough) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

// The race detector makes sync.Pool drop items at random, so this check
// runs only in builds without it.
func TestChainAllocatesNothing(t *testing.T) {
	op := func(context.Context) error { return nil }
	ctx := context.Background()
	for _, n := range []int{2, 3, 8} {
		ps := make([]resilience.Policy, n)
		for i := range ps {
			ps[i] = passthrough{}
		}
		p := resilience.Chain(ps...)
		allocs := testing.AllocsPerRun(1000, func() { _ = p.Do(ctx, op) })
		assert.Zero(t, allocs, "Chain of %d policies", n)
	}
}

func TestProtocolsAllocateNothing(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 0, policyCause{})
	defer cancel()
	err := fmt.Errorf("wrapped: %w", rejection{status: 503})
	assert.Zero(t, testing.AllocsPerRun(100, func() { resilience.CallerDone(ctx) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { resilience.IsLocalRejection(err) }))
}

// Handler's cost per request: the per-request state, the op bound to it,
// the context value and the request copy that carries it (an IPv4 client
// key is taken from RemoteAddr without formatting).
func TestHandlerAllocations(t *testing.T) {
	h := resilience.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), passthrough{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	w := httptest.NewRecorder()
	assert.LessOrEqual(t, testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) }), 4.0)
}

// claimsConcurrency says it may call op concurrently but calls it once:
// what a split chain costs by itself.
type claimsConcurrency struct{ passthrough }

func (claimsConcurrency) CallsOpConcurrently() bool { return true }

func TestSplitChainAllocatesNothing(t *testing.T) {
	op := func(context.Context) error { return nil }
	p := resilience.Chain(passthrough{}, claimsConcurrency{}, passthrough{}, passthrough{})
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = p.Do(context.Background(), op) }))
}

func TestDoAllocations(t *testing.T) {
	p := resilience.Chain(passthrough{}, passthrough{})
	op := func(context.Context) (int, error) { return 1, nil }
	assert.LessOrEqual(t, testing.AllocsPerRun(1000, func() { _, _ = resilience.Do(context.Background(), p, op) }), 2.0)
}

// A race of one attempt that wins costs the race and the attempt's context
// (the first attempts and their first results live inside them).
func TestRaceAllocations(t *testing.T) {
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		r := resilience.NewRace(ctx)
		a := r.Attempt(ctx)
		resilience.Keep(a, nil, nil)
		r.Win(a)
		r.End()
	})
	assert.LessOrEqual(t, allocs, 2.0)
}

package resilience_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var log []string
	p := resilience.Chain(record("a", &log), nil, resilience.Chain(record("b", &log), record("c", &log)))
	err := p.Do(context.Background(), func(context.Context) error {
		log = append(log, "op")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a>", "b>", "c>", "op", "<c", "<b", "<a"}, log)
}

func TestChainEmptyAndSingle(t *testing.T) {
	t.Parallel()
	calls := 0
	op := func(context.Context) error { calls++; return nil }
	require.NoError(t, resilience.Chain().Do(context.Background(), op))
	require.NoError(t, resilience.Chain(nil, nil).Do(context.Background(), op))
	assert.Equal(t, 2, calls)

	var log []string
	single := record("only", &log)
	got := resilience.Chain(single)
	require.NoError(t, got.Do(context.Background(), op))
	assert.Equal(t, []string{"only>", "<only"}, log)
}

func TestChainReturnsOpError(t *testing.T) {
	t.Parallel()
	var log []string
	boom := errors.New("boom")
	p := resilience.Chain(record("a", &log), record("b", &log))
	err := p.Do(context.Background(), func(context.Context) error { return boom })
	assert.ErrorIs(t, err, boom)
}

func TestChainPassesDerivedContext(t *testing.T) {
	t.Parallel()
	type k struct{}
	add := func(v string) resilience.Policy {
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			prev, _ := ctx.Value(k{}).(string)
			return op(context.WithValue(ctx, k{}, prev+v))
		})
	}
	var seen string
	err := resilience.Chain(add("a"), add("b"), add("c")).Do(context.Background(), func(ctx context.Context) error {
		seen = ctx.Value(k{}).(string)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "abc", seen)
}

// A retrying layer in the middle of a chain re-enters the layers below it
// each time, and the chain stays usable for later calls.
func TestChainRetryInTheMiddle(t *testing.T) {
	t.Parallel()
	var log []string
	p := resilience.Chain(record("outer", &log), retryN(3, 0), record("inner", &log))
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("transient")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	assert.Equal(t, []string{"outer>", "inner>", "<inner", "inner>", "<inner", "inner>", "<inner", "<outer"}, log)

	log = nil
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Equal(t, []string{"outer>", "inner>", "<inner", "<outer"}, log)
}

func TestChainPanicPropagatesAndChainRecovers(t *testing.T) {
	t.Parallel()
	var inFlight atomic.Int32
	// guard keeps a count of calls in flight, released on every path,
	// as a bulkhead would.
	guard := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		return op(ctx)
	})
	p := resilience.Chain(guard, retryN(2, 0), guard)
	assert.PanicsWithValue(t, "kaboom", func() {
		_ = p.Do(context.Background(), func(context.Context) error { panic("kaboom") })
	})
	assert.Zero(t, inFlight.Load(), "permits must be released when op panics")

	calls := 0
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { calls++; return nil }))
	assert.Equal(t, 1, calls, "the chain works after a panic")
}

// A policy that keeps op and calls it after its Do returned breaks the
// contract; the chain panics with a clear message instead of running some
// other caller's op.
func TestChainDetectsOpCalledAfterReturn(t *testing.T) {
	t.Parallel()
	var kept func(context.Context) error
	leaky := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		kept = op
		return op(ctx)
	})
	p := resilience.Chain(leaky, retryN(1, 0))
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
	assert.PanicsWithValue(t,
		"resilience: a policy in a Chain called its op after its Do returned (see the Policy contract)",
		func() { _ = kept(context.Background()) })
}

func TestChainConcurrentUse(t *testing.T) {
	t.Parallel()
	var log []string
	var mu sync.Mutex
	lockRecord := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		mu.Lock()
		log = append(log, "x")
		mu.Unlock()
		return err
	})
	p := resilience.Chain(lockRecord, retryN(2, 0), lockRecord)
	var wg sync.WaitGroup
	var sum atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				v := int64(g*1000 + i)
				got, err := resilience.Do(context.Background(), p, func(context.Context) (int64, error) { return v, nil })
				if assert.NoError(t, err) && assert.Equal(t, v, got) {
					sum.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1600, sum.Load())
	assert.Len(t, log, 3200)
}

func TestDoCarriesValue(t *testing.T) {
	t.Parallel()
	calls := 0
	v, err := resilience.Do(context.Background(), retryN(3, 0), func(context.Context) (string, error) {
		calls++
		if calls < 2 {
			return "partial", errors.New("transient")
		}
		return "done", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "done", v)

	boom := errors.New("boom")
	v, err = resilience.Do(context.Background(), resilience.Chain(), func(context.Context) (string, error) {
		return "", boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, v)
}

func TestKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	assert.Empty(t, resilience.KeyFrom(ctx))
	ctx = resilience.WithKey(ctx, "api.example.com")
	assert.Equal(t, "api.example.com", resilience.KeyFrom(ctx))
	assert.Equal(t, "inner", resilience.KeyFrom(resilience.WithKey(ctx, "inner")))
}

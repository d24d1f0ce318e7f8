package resilience_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

// both is the smallest concurrent policy: it calls op twice at once, each
// call with the attempt number in its context, and returns the outcome of
// the attempt pick names (or the first to succeed, when pick is nil). It
// waits for both, as the contract asks.
type both struct {
	pick  func(attempts [2]error) int
	calls atomic.Int64
}

type attemptKey struct{}

func attemptOf(ctx context.Context) int { n, _ := ctx.Value(attemptKey{}).(int); return n }

func (b *both) CallsOpConcurrently() bool { return true }

func (b *both) Do(ctx context.Context, op func(context.Context) error) error {
	b.calls.Add(1)
	race := resilience.NewRace(ctx)
	defer race.End()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  [2]error
		ctxs  [2]context.Context
		order []int
	)
	for i := range 2 {
		actx, cancel := context.WithCancel(context.WithValue(ctx, attemptKey{}, i))
		defer cancel()
		ctxs[i] = race.Attempt(actx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := op(ctxs[i])
			mu.Lock()
			errs[i] = err
			order = append(order, i)
			mu.Unlock()
		}()
	}
	wg.Wait()
	w := order[0]
	if errs[w] != nil && errs[order[1]] == nil {
		w = order[1]
	}
	if b.pick != nil {
		w = b.pick(errs)
	}
	race.Win(ctxs[w])
	return errs[w]
}

func TestDoKeepsTheWinnersValue(t *testing.T) {
	t.Parallel()
	for _, winner := range []int{0, 1} {
		b := &both{pick: func([2]error) int { return winner }}
		v, err := resilience.Do(context.Background(), b, func(ctx context.Context) (int, error) {
			return 10 + attemptOf(ctx), nil
		})
		require.NoError(t, err)
		assert.Equal(t, 10+winner, v, "the value of the attempt that won, not of the last to return")
	}
}

func TestDoKeepsTheWinnersValueThroughAChain(t *testing.T) {
	t.Parallel()
	// Policies inside the concurrent one run once per attempt, each with a
	// path of its own through the chain; the one outside runs once.
	var outer, inner atomic.Int64
	count := func(n *atomic.Int64) resilience.Policy {
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			n.Add(1)
			return op(ctx)
		})
	}
	b := &both{pick: func([2]error) int { return 1 }}
	p := resilience.Chain(count(&outer), b, count(&inner), count(&inner))
	cp, ok := p.(resilience.ConcurrentPolicy)
	require.True(t, ok, "a chain with a concurrent policy is one")
	assert.True(t, cp.CallsOpConcurrently())
	for range 100 {
		v, err := resilience.Do(context.Background(), p, func(ctx context.Context) (string, error) {
			if attemptOf(ctx) == 1 {
				return "one", nil
			}
			return "zero", nil
		})
		require.NoError(t, err)
		require.Equal(t, "one", v)
	}
	assert.EqualValues(t, 100, outer.Load())
	assert.EqualValues(t, 400, inner.Load())
}

func TestChainWithoutConcurrentPolicyIsNotConcurrent(t *testing.T) {
	t.Parallel()
	p := resilience.Chain(plain{}, plain{})
	cp, ok := p.(resilience.ConcurrentPolicy)
	assert.True(t, !ok || !cp.CallsOpConcurrently())
}

func TestDoInsideAnAttemptKeepsItsOwnValue(t *testing.T) {
	t.Parallel()
	// A Do inside op belongs to the call of op, not to the race outside:
	// its value is returned when it returns.
	b := &both{pick: func([2]error) int { return 0 }}
	got, err := resilience.Do(context.Background(), b, func(ctx context.Context) (int, error) {
		v, err := resilience.Do(ctx, plain{}, func(context.Context) (int, error) { return 7 + attemptOf(ctx), nil })
		if v != 7+attemptOf(ctx) {
			return -1, errors.New("inner value lost")
		}
		return v, err
	})
	require.NoError(t, err)
	assert.Equal(t, 7, got)
}

func TestNestedRacesKeepTheOuterWinnersValue(t *testing.T) {
	t.Parallel()
	outer := &both{pick: func([2]error) int { return 1 }}
	inner := &both{pick: func([2]error) int { return 0 }}
	type path struct{ outer, inner int }
	// The outer attempt number is seen through a value set between the two.
	tag := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, outerKey{}, attemptOf(ctx)))
	})
	v, err := resilience.Do(context.Background(), resilience.Chain(outer, tag, inner), func(ctx context.Context) (path, error) {
		o, _ := ctx.Value(outerKey{}).(int)
		return path{o, attemptOf(ctx)}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, path{1, 0}, v)
}

type outerKey struct{}

func TestDoFailureValueIsTheReturnedAttempts(t *testing.T) {
	t.Parallel()
	fail := errors.New("fail")
	b := &both{pick: func([2]error) int { return 1 }}
	v, err := resilience.Do(context.Background(), b, func(ctx context.Context) (int, error) {
		return 100 + attemptOf(ctx), fail
	})
	require.ErrorIs(t, err, fail)
	assert.Equal(t, 101, v)
}

func TestSubstituteAndResult(t *testing.T) {
	t.Parallel()
	sub := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			v, ok := resilience.Result[int](ctx)
			if !ok || v != 1 {
				return errors.New("Result did not see op's value")
			}
		}
		if !resilience.Substitute(ctx, 42) {
			return errors.New("no call to substitute into")
		}
		return nil
	})
	v, err := resilience.Do(context.Background(), sub, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	// Another type, or no Do at all: nothing to substitute into.
	_, err = resilience.Do(context.Background(), sub, func(context.Context) (string, error) { return "", nil })
	assert.EqualError(t, err, "Result did not see op's value")
	assert.False(t, resilience.Substitute(context.Background(), 1))
	_, ok := resilience.Result[int](context.Background())
	assert.False(t, ok)
}

func TestSubstituteUnderARaceIsKeptOnlyIfItsAttemptWins(t *testing.T) {
	t.Parallel()
	b := &both{pick: func([2]error) int { return 0 }}
	p := resilience.Chain(b, resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = op(ctx)
		resilience.Substitute(ctx, 50+attemptOf(ctx))
		return nil
	}))
	v, err := resilience.Do(context.Background(), p, func(context.Context) (int, error) { return 0, nil })
	require.NoError(t, err)
	assert.Equal(t, 50, v)
}

func TestRaceWinWithAForeignContextPanics(t *testing.T) {
	t.Parallel()
	r := resilience.NewRace(context.Background())
	assert.PanicsWithValue(t, "resilience: Race.Win with a context that is not an attempt of this race", func() {
		r.Win(context.Background())
	})
	other := resilience.NewRace(context.Background()).Attempt(context.Background())
	assert.Panics(t, func() { r.Win(other) })
}

func TestKeepAfterTheRaceIsSettled(t *testing.T) {
	t.Parallel()
	r := resilience.NewRace(context.Background())
	a, b := r.Attempt(context.Background()), r.Attempt(context.Background())
	var kept, discarded []string
	resilience.Keep(a, func() { kept = append(kept, "a1") }, func() { discarded = append(discarded, "a1") })
	require.True(t, r.Win(a))
	assert.False(t, r.Win(b), "one winner")
	assert.True(t, r.Win(a), "Win again for the winner says so")
	resilience.Keep(a, func() { kept = append(kept, "a2") }, nil)
	resilience.Keep(b, func() { kept = append(kept, "b1") }, func() { discarded = append(discarded, "b1") })
	r.End()
	resilience.Keep(b, func() { kept = append(kept, "b2") }, func() { discarded = append(discarded, "b2") })
	assert.Equal(t, []string{"a1", "a2"}, kept)
	assert.Equal(t, []string{"b1", "b2"}, discarded)
	assert.False(t, r.Win(b), "no winner after End")
}

func TestRaceWithoutWinnerDiscardsAll(t *testing.T) {
	t.Parallel()
	r := resilience.NewRace(context.Background())
	a := r.Attempt(context.Background())
	n := 0
	resilience.Keep(a, func() { t.Error("kept without a winner") }, func() { n++ })
	r.End()
	assert.Equal(t, 1, n)
}

func TestHandlerRefusesAConcurrentPolicy(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	assert.PanicsWithValue(t, "resilience: Handler with a concurrent policy (a hedge): a handler's response can be written once", func() {
		resilience.Handler(h, plain{}, &both{})
	})
}

func TestTransportUnderARaceReturnsTheWinnersResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Header.Get("X-Attempt")+":"+string(body))
	}))
	defer srv.Close()
	tag := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(ctx)
	})
	for _, winner := range []int{0, 1} {
		b := &both{pick: func([2]error) int { return winner }}
		rt := &attemptHeader{next: http.DefaultTransport}
		client := &http.Client{Transport: resilience.Transport(rt, b, tag)}
		req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("body"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, []string{"0", "1"}[winner]+":body", string(got), "both attempts got the body; the winner's response came back")
		assert.EqualValues(t, 1, rt.closedLosers(), "the loser's body was drained and closed")
	}
}

func TestTransportRequestFromAndRepeatable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var seen *http.Request
	var repeatable []bool
	p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		seen = resilience.RequestFrom(ctx)
		repeatable = append(repeatable, resilience.Repeatable(ctx))
		return op(ctx)
	})
	client := &http.Client{Transport: resilience.Transport(nil, p)}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(m, srv.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Same(t, req, seen)
	}
	assert.Equal(t, []bool{true, false}, repeatable, "a POST without an Idempotency-Key may not be sent twice")
	assert.True(t, resilience.Repeatable(context.Background()))
}

// attemptHeader tags each request with its attempt number and counts the
// response bodies closed for attempts other than the winner's.
type attemptHeader struct {
	next   http.RoundTripper
	closed atomic.Int64
	mu     sync.Mutex
	bodies []*countClose
}

func (a *attemptHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("X-Attempt", string(rune('0'+attemptOf(r.Context()))))
	resp, err := a.next.RoundTrip(r)
	if err == nil {
		cc := &countClose{ReadCloser: resp.Body, n: &a.closed}
		resp.Body = cc
		a.mu.Lock()
		a.bodies = append(a.bodies, cc)
		a.mu.Unlock()
	}
	return resp, err
}

// closedLosers is the count of bodies closed, less the winner's (closed by
// the test).
func (a *attemptHeader) closedLosers() int64 { return a.closed.Load() - 1 }

type countClose struct {
	io.ReadCloser
	n    *atomic.Int64
	once sync.Once
}

func (c *countClose) Close() error {
	c.once.Do(func() { c.n.Add(1) })
	return c.ReadCloser.Close()
}

// plain is a sequential policy that adds nothing.
type plain struct{}

func (plain) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func TestResultInsideARaceIsUndecided(t *testing.T) {
	t.Parallel()
	var inside []bool
	var mu sync.Mutex
	peek := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		_, ok := resilience.Result[int](ctx)
		mu.Lock()
		inside = append(inside, ok)
		mu.Unlock()
		return err
	})
	var outside bool
	after := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		v, ok := resilience.Result[int](ctx)
		outside = ok && v == 10
		return err
	})
	b := &both{pick: func([2]error) int { return 0 }}
	v, err := resilience.Do(context.Background(), resilience.Chain(after, b, peek), func(ctx context.Context) (int, error) {
		return 10 + attemptOf(ctx), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 10, v)
	assert.Equal(t, []bool{false, false}, inside, "inside an attempt the value is not decided")
	assert.True(t, outside, "outside the race it is the winner's")
}

func TestSubstitutedResponseOfALoserIsClosed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var closed atomic.Int64
	sub := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = op(ctx)
		body := &countClose{ReadCloser: io.NopCloser(strings.NewReader("sub")), n: &closed}
		resilience.Substitute(ctx, &http.Response{StatusCode: 299, Header: http.Header{}, Body: body})
		return nil
	})
	b := &both{pick: func([2]error) int { return 1 }}
	resp, err := (&http.Client{Transport: resilience.Transport(nil, b, sub)}).Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 299, resp.StatusCode)
	assert.EqualValues(t, 1, closed.Load(), "the losing attempt's substitute was closed")
	require.NoError(t, resp.Body.Close())
	assert.EqualValues(t, 2, closed.Load())
}

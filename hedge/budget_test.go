package hedge_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/retry"
)

// flaky is a dependency where each attempt, drawn from a seeded source, is
// slow (100 ms), fails at once, fails slowly (after 100 ms), or answers in
// 10 ms; it counts attempts.
type flaky struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	slow     float64
	fail     float64
	slowFail float64
	attempts atomic.Int64
}

func newFlaky(seed uint64, slow, fail float64) *flaky {
	return &flaky{rnd: rand.New(rand.NewPCG(seed, 1)), slow: slow, fail: fail}
}

func (f *flaky) op(ctx context.Context) error {
	f.attempts.Add(1)
	f.mu.Lock()
	u := f.rnd.Float64()
	f.mu.Unlock()
	d, err := ms(10), error(nil)
	switch {
	case u < f.slow:
		d = ms(100)
	case u < f.slow+f.fail:
		d, err = 0, errTransient
	case u < f.slow+f.fail+f.slowFail:
		d, err = ms(100), errTransient
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run makes callers×calls calls of p, and returns how many.
func run(p resilience.Policy, op func(context.Context) error, callers, calls int) int {
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				_ = p.Do(context.Background(), op)
			}
		})
	}
	wg.Wait()
	return callers * calls
}

// A RatioBudget shared by a retry.Retry and a Hedge inside it, with
// BudgetCountedByRetry: the extra attempts (retries plus hedges) stay
// within the ratio of the calls. Half the calls come in good times (no
// extra attempt: the budget fills), half in an outage (every attempt fails
// at once: two hedges at once, then a retry, itself hedged, and so on), so
// that both draw on the budget and want far more than it holds. Without BudgetCountedByRetry
// each call is counted twice (by the Retry and by the Hedge, once per
// attempt of the Retry), and the extras pass the ratio: that is what the
// flag is for.
func TestBudgetSharedWithRetry(t *testing.T) {
	t.Parallel()
	const ratio = 0.1
	for _, counted := range []bool{true, false} {
		name := map[bool]string{true: "BudgetCountedByRetry", false: "counted twice"}[counted]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := retry.NewRatioBudget(retry.RatioConfig{Ratio: ratio, MinPerSecond: resilience.None, Window: time.Hour})
				r := retry.New(retry.Config{MaxRetries: 3, Jitter: retry.JitterNone, InitialDelay: time.Millisecond, Budget: b})
				h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: 2, Budget: b, BudgetCountedByRetry: counted})
				p := resilience.Chain(r, h)
				good, outage := newFlaky(7, 0, 0), newFlaky(7, 0, 1)
				calls := run(p, good.op, 10, 50) + run(p, outage.op, 10, 50)
				extras := good.attempts.Load() + outage.attempts.Load() - int64(calls)
				m := h.Metrics()
				retries := r.Metrics().Retries
				t.Logf("%s: %d calls, %d retries + %d hedges = %d extra attempts (%.1f %% of calls), %d hedges and %d retries refused",
					name, calls, retries, m.Hedges, extras, 100*float64(extras)/float64(calls),
					m.BudgetRefusals, r.Metrics().GaveUp[retry.ReasonBudget])
				assert.Equal(t, extras, int64(retries+m.Hedges))
				if counted {
					assert.LessOrEqual(t, float64(extras), ratio*float64(calls), "within the budget's ratio")
					assert.Positive(t, retries, "the retry had its share")
					assert.Positive(t, m.Hedges, "the hedge had its share")
					assert.Positive(t, m.BudgetRefusals)
				} else {
					assert.Greater(t, float64(extras), ratio*float64(calls), "counted twice, the budget lets more through")
				}
			})
		})
	}
}

// A Hedge alone counts its calls in the Budget itself: its hedges stay
// within a RatioBudget's ratio; a TokenBudget stops them in an outage.
func TestBudgetAlone(t *testing.T) {
	t.Parallel()
	t.Run("RatioBudget", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.05, MinPerSecond: resilience.None, Window: time.Minute})
			h := hedge.New(hedge.Config{Delay: ms(20), Budget: b})
			f := newFlaky(3, 0.3, 0.1)
			calls := run(h, f.op, 10, 100)
			m := h.Metrics()
			assert.LessOrEqual(t, float64(m.Hedges), 0.05*float64(calls))
			assert.Positive(t, m.BudgetRefusals)
			assert.EqualValues(t, int64(calls)+int64(m.Hedges), f.attempts.Load())
		})
	})
	t.Run("TokenBudget in an outage", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := retry.NewTokenBudget(10, 0.1)
			h := hedge.New(hedge.Config{Delay: ms(20), Budget: b})
			f := newFlaky(3, 0, 1) // every attempt fails
			calls := run(h, f.op, 1, 100)
			m := h.Metrics()
			// Each failure takes a token; hedges stop at half the bucket.
			assert.LessOrEqual(t, m.Hedges, uint64(5))
			assert.EqualValues(t, calls-int(m.Hedges), m.BudgetRefusals)
			assert.LessOrEqual(t, b.Tokens(), 5.0)
		})
	})
}

// The Budget is asked before each hedge and never for a first attempt; a
// refusal means no hedge (the first attempt goes on alone).
func TestBudgetRefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := &countingBudget{allow: false}
		h := hedge.New(hedge.Config{Delay: ms(20), Budget: b})
		s := newScript(step{latency: ms(100)}, step{latency: ms(10)})
		v, err := resilience.Do(t.Context(), h, s.op)
		require.NoError(t, err)
		assert.Equal(t, 0, v)
		assert.Equal(t, 1, s.attempts())
		assert.Equal(t, hedge.Metrics{Calls: 1, BudgetRefusals: 1}, h.Metrics())
		assert.Equal(t, budgetCounts{requests: 1, successes: 1, withdrawals: 1}, b.counts())
	})
}

// countingBudget counts what a Hedge asks of it.
type countingBudget struct {
	mu    sync.Mutex
	allow bool
	n     budgetCounts
}

type budgetCounts struct{ requests, successes, failures, withdrawals int }

func (b *countingBudget) Request() { b.mu.Lock(); b.n.requests++; b.mu.Unlock() }
func (b *countingBudget) Success() { b.mu.Lock(); b.n.successes++; b.mu.Unlock() }
func (b *countingBudget) Failure() { b.mu.Lock(); b.n.failures++; b.mu.Unlock() }
func (b *countingBudget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n.withdrawals++
	return b.allow
}

func (b *countingBudget) counts() budgetCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// A call made with a single attempt (no hedge configured, or a request
// that may not be sent twice) still counts in the Budget: Request, then
// Success or Failure; a permanent failure counts neither.
func TestBudgetSingleAttempt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want budgetCounts
	}{
		{"success", nil, budgetCounts{requests: 1, successes: 1}},
		{"failure", errTransient, budgetCounts{requests: 1, failures: 1}},
		{"permanent", errPermanent, budgetCounts{requests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &countingBudget{}
			h := hedge.New(hedge.Config{MaxHedges: resilience.None, Budget: b})
			assert.ErrorIs(t, h.Do(t.Context(), func(context.Context) error { return tt.err }), tt.err)
			assert.Equal(t, tt.want, b.counts())
		})
	}
	t.Run("panic", func(t *testing.T) {
		t.Parallel()
		b := &countingBudget{}
		h := hedge.New(hedge.Config{MaxHedges: resilience.None, Budget: b})
		assert.Panics(t, func() { _ = h.Do(t.Context(), func(context.Context) error { panic("boom") }) })
		assert.Equal(t, budgetCounts{requests: 1, failures: 1}, b.counts())
	})
}

// While the timer's function asks the Budget for a hedge, the only attempt
// fails with an error that starts none: that failure decides the call,
// which returns once the Budget answered. (A regression: the question held
// the call open as if a hedge ran, and nothing ever decided it.)
func TestBudgetAskedWhileTheLastAttemptFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		answer := make(chan bool)
		b := &slowBudget{answer: answer}
		h := hedge.New(hedge.Config{Delay: ms(20), Budget: b, BudgetCountedByRetry: true})
		s := newScript(step{latency: ms(30), err: rejection{}})
		time.AfterFunc(ms(40), func() { answer <- false })
		start := time.Now()
		err := h.Do(t.Context(), s.plain)
		assert.ErrorIs(t, err, rejection{})
		assert.Equal(t, ms(40), time.Since(start), "Do waits for the timer's function to end")
		assert.Equal(t, hedge.Metrics{Calls: 1, BudgetRefusals: 1}, h.Metrics())
	})
}

type rejection struct{}

func (rejection) Error() string        { return "rejected here" }
func (rejection) LocalRejection() bool { return true }

// slowBudget answers Withdraw with what it receives on answer.
type slowBudget struct{ answer chan bool }

func (*slowBudget) Request()         {}
func (*slowBudget) Success()         {}
func (*slowBudget) Failure()         {}
func (b *slowBudget) Withdraw() bool { return <-b.answer }

// Two runs of the timer's function may ask the Budget at once (a hedge on a
// failure re-armed the timer while the first asked): the call waits for
// both. (A regression: the first to be answered marked the call as no
// longer asking, and Do returned while the second still used its state.)
func TestBudgetAskedTwiceByTheTimer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := &scriptedBudget{answers: []answer{{ms(30), false}, {0, true}, {ms(15), true}}}
		h := hedge.New(hedge.Config{Delay: ms(20), MaxHedges: 3, Budget: b, BudgetCountedByRetry: true})
		// Attempt 0 fails at 25 ms (after the timer's first question, at
		// 20 ms): a hedge at once, which re-arms the timer (its second
		// question, at 45 ms), then fails for good at 48 ms.
		s := newScript(step{latency: ms(25), err: errTransient}, step{latency: ms(23), err: errPermanent})
		start := time.Now()
		err := h.Do(t.Context(), s.plain)
		assert.ErrorIs(t, err, errPermanent)
		assert.Equal(t, ms(60), time.Since(start), "Do waits for both questions")
		assert.Equal(t, []time.Duration{0, ms(25)}, s.startTimes())
	})
}

type answer struct {
	after time.Duration
	ok    bool
}

// scriptedBudget answers the n-th Withdraw with answers[n], after its delay.
type scriptedBudget struct {
	mu      sync.Mutex
	answers []answer
}

func (*scriptedBudget) Request() {}
func (*scriptedBudget) Success() {}
func (*scriptedBudget) Failure() {}
func (b *scriptedBudget) Withdraw() bool {
	b.mu.Lock()
	a := b.answers[0]
	b.answers = b.answers[1:]
	b.mu.Unlock()
	time.Sleep(a.after)
	return a.ok
}

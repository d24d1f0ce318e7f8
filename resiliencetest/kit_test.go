package resiliencetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
)

// recorder is the tb of the kit's own tests: it records what a check
// reports instead of failing the test.
type recorder struct {
	mu     sync.Mutex
	errors []string
}

type failNow struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}
func (r *recorder) FailNow() { panic(failNow{}) }

func (r *recorder) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

// runCheck runs one check on the policies of newPolicy the way Run does,
// and returns what it reported.
func runCheck(t *testing.T, c Check, newPolicy func() resilience.Policy, cfg Config) string {
	t.Helper()
	rec := &recorder{}
	var fn func(tb, *harness)
	for _, k := range checks {
		if k.name == c {
			fn = k.fn
		}
	}
	if fn == nil {
		t.Fatalf("no check %q", c)
	}
	synctest.Test(t, func(*testing.T) {
		h := newHarness(newPolicy, cfg)
		defer h.close()
		defer func() {
			if v := recover(); v != nil && v != any(failNow{}) {
				panic(v)
			}
		}()
		fn(rec, h)
	})
	return rec.report()
}

func factory(p resilience.Policy) func() resilience.Policy {
	return func() resilience.Policy { return p }
}

var (
	passthrough = resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(ctx)
	})

	// retryWell retries three times with a pause that honours ctx.
	retryWell = resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var err error
		for i := range 3 {
			if i > 0 {
				t := time.NewTimer(time.Second)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			if err = op(ctx); err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	})

	// perAttempt derives a context per attempt and defers its cancel.
	perAttempt = resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		err := op(actx)
		if !resilience.DeferRelease(ctx, cancel) {
			cancel()
		}
		return err
	})
)

// ignorePanic keeps a panic of an op that a broken policy runs on a
// goroutine of its own from crashing the test binary (which would be a
// failure too, but of every test at once).
func ignorePanic() { _ = recover() }

// twice calls op twice at once (a hedge without its exception to rule 1),
// and carries a panic of op over to its caller.
var twice = resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	panics := make([]any, 2)
	for i := range errs {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = op(ctx)
		})
	}
	wg.Wait()
	for _, v := range panics {
		if v != nil {
			panic(v)
		}
	}
	return errors.Join(errs...)
})

// semaphore is a bulkhead of n without a queue; leaky forgets to release a
// permit when op panics.
func semaphore(n int, leaky bool) func() resilience.Policy {
	return func() resilience.Policy {
		sem := make(chan struct{}, n)
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			select {
			case sem <- struct{}{}:
			default:
				return errors.New("full")
			}
			if leaky {
				err := op(ctx)
				<-sem
				return err
			}
			defer func() { <-sem }()
			return op(ctx)
		})
	}
}

// waitingSemaphore waits for a permit as long as ctx allows, or ignores ctx
// while it waits.
func waitingSemaphore(ignoreCtx bool) func() resilience.Policy {
	return func() resilience.Policy {
		sem := make(chan struct{}, 1)
		return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			if ignoreCtx {
				sem <- struct{}{}
			} else {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			defer func() { <-sem }()
			return op(ctx)
		})
	}
}

// The policies that keep the contract pass every check.
func TestRunPassesGoodPolicies(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]func() resilience.Policy{
		"passthrough":       factory(passthrough),
		"retry":             factory(retryWell),
		"per-attempt":       factory(perAttempt),
		"semaphore":         semaphore(1, false),
		"waiting semaphore": waitingSemaphore(false),
		"chain":             factory(resilience.Chain(retryWell, perAttempt, passthrough)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			Run(t, p, Config{})
			for _, c := range checks {
				assert.Empty(t, runCheck(t, c.name, p, Config{}), c.name)
			}
		})
	}
}

// Each broken policy makes the check of the rule it breaks fail, with a
// message that names the rule.
func TestRunFailsBrokenPolicies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		policy func() resilience.Policy
		fails  []Check
		skip   []Check
		says   string
	}{
		{
			name:   "calls op concurrently",
			policy: factory(twice),
			fails:  []Check{CheckSequential, CheckHammer},
			skip:   []Check{CheckDeferRelease}, // without a Race, the two attempts under Transport overwrite each other
			says:   "at once",
		},
		{
			name: "returns before op returns",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				go func() { defer ignorePanic(); _ = op(ctx) }()
				return nil
			})),
			fails: []Check{CheckWaitsForOp, CheckErrors, CheckPanic, CheckDeferRelease, CheckHammer},
			says:  "after Do returned",
		},
		{
			name: "calls op after it returned",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				err := op(ctx)
				time.AfterFunc(time.Millisecond, func() { defer ignorePanic(); _ = op(ctx) })
				return err
			})),
			fails: []Check{CheckWaitsForOp, CheckErrors, CheckHammer},
			says:  "after Do returned",
		},
		{
			name: "sleeps through a cancel before op",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				time.Sleep(time.Minute)
				return op(ctx)
			})),
			fails: []Check{CheckCancel},
			says:  "done on entry: Do returned 1m0s after",
		},
		{
			name: "sleeps through a cancel between attempts",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				var err error
				for range 3 {
					if err = op(ctx); err == nil {
						return nil
					}
					time.Sleep(time.Second)
				}
				return err
			})),
			fails: []Check{CheckCancel},
			says:  "after op failed",
		},
		{
			name:   "ignores a cancel while it waits for a permit",
			policy: waitingSemaphore(true),
			fails:  []Check{CheckCancel},
			says:   "while waiting behind another call",
		},
		{
			name: "passes a context not derived from the caller's",
			policy: factory(resilience.PolicyFunc(func(_ context.Context, op func(context.Context) error) error {
				return op(context.Background())
			})),
			fails: []Check{CheckContext, CheckCancel, CheckHammer},
			says:  "lacks the values",
		},
		{
			name: "passes a context that loses the caller's cancel",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				return op(context.WithoutCancel(ctx))
			})),
			fails: []Check{CheckContext, CheckCancel, CheckHammer},
			says:  "was not cancelled when the caller's context was",
		},
		{
			name: "swallows op's error",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				_ = op(ctx)
				return nil
			})),
			fails: []Check{CheckErrors},
			says:  "swallowed",
		},
		{
			name: "replaces op's error",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				if err := op(ctx); err != nil {
					return fmt.Errorf("failed: %v", err)
				}
				return nil
			})),
			fails: []Check{CheckErrors},
			says:  "does not find op's error",
		},
		{
			name: "swallows a panic",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) (err error) {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("panic: %v", v)
					}
				}()
				return op(ctx)
			})),
			fails: []Check{CheckPanic, CheckHammer},
			says:  "the panic was swallowed",
		},
		{
			name: "wraps a panic",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				defer func() {
					if v := recover(); v != nil {
						panic(fmt.Sprint("policy: ", v))
					}
				}()
				return op(ctx)
			})),
			fails: []Check{CheckPanic, CheckHammer},
			says:  "the caller of Do recovered",
		},
		{
			name:   "leaks a permit after a panic",
			policy: semaphore(1, true),
			fails:  []Check{CheckPanic},
			says:   "a permit leaked",
		},
		{
			name:   "leaks a permit after a panic, with room for several",
			policy: semaphore(4, true),
			fails:  []Check{CheckPanic},
			says:   "after 4 panics",
		},
		{
			name: "leaks a permit after a panic, and queues for one",
			policy: func() resilience.Policy {
				sem := make(chan struct{}, 1)
				return resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						return ctx.Err()
					}
					err := op(ctx)
					<-sem
					return err
				})
			},
			fails: []Check{CheckPanic, CheckHammer},
			says:  "a permit leaked",
		},
		{
			name: "cancels its per-attempt context when op returns",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				actx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				return op(actx)
			})),
			fails: []Check{CheckDeferRelease},
			says:  "resilience.DeferRelease",
		},
		{
			name: "never cancels its per-attempt context",
			policy: factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				actx, cancel := context.WithTimeout(ctx, time.Minute)
				_ = cancel // leaked until the timeout
				return op(actx)
			})),
			fails: []Check{CheckDeferRelease},
			says:  "still live after the response body was closed",
		},
		{
			name: "rejects every call",
			policy: factory(resilience.PolicyFunc(func(context.Context, func(context.Context) error) error {
				return errors.New("rejected")
			})),
			fails: []Check{CheckSequential, CheckWaitsForOp, CheckContext, CheckCancel, CheckErrors, CheckPanic, CheckDeferRelease},
			says:  "must skip this check",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			failed := map[Check]bool{}
			for _, k := range c.fails {
				failed[k] = true
			}
			said := false
			for _, k := range checks {
				if slices.Contains(c.skip, k.name) {
					continue
				}
				got := runCheck(t, k.name, c.policy, Config{})
				if failed[k.name] {
					assert.NotEmpty(t, got, "%s must fail", k.name)
					said = said || strings.Contains(got, c.says)
				} else {
					assert.Empty(t, got, "%s must pass", k.name)
				}
			}
			assert.True(t, said, "some check says %q", c.says)
		})
	}
}

// A check skipped in Config.Skip does not run, and the hammer leaves out
// what the skip says does not apply.
func TestRunSkips(t *testing.T) {
	t.Parallel()
	concurrent := factory(twice)
	assert.Empty(t, runCheck(t, CheckHammer, concurrent, Config{Skip: map[Check]string{CheckSequential: "a hedge"}}))
	Run(t, concurrent, Config{Skip: map[Check]string{
		CheckSequential: "a hedge", CheckHammer: "checked above",
		CheckDeferRelease: "Transport's op is not safe for concurrent calls",
	}})
	assert.PanicsWithValue(t, "resiliencetest: Config.Skip names no check: Nope", func() {
		Run(t, factory(passthrough), Config{Skip: map[Check]string{"Nope": "typo"}})
	})
	assert.Panics(t, func() { Run(t, nil, Config{}) })
}

// Config.Context prepares every caller's context: a policy that needs a key
// gets one.
func TestRunContext(t *testing.T) {
	t.Parallel()
	needsKey := factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if resilience.KeyFrom(ctx) == "" {
			return errors.New("no key")
		}
		return op(ctx)
	}))
	assert.Contains(t, runCheck(t, CheckErrors, needsKey, Config{}), "op was never called")
	Run(t, needsKey, Config{Context: func(ctx context.Context) context.Context { return resilience.WithKey(ctx, "k") }})
}

// A policy with a Close method is closed at the end of every check.
type closer struct {
	resilience.PolicyFunc
	closed *int
}

func (c closer) Close() { *c.closed++ }

func TestRunCloses(t *testing.T) {
	t.Parallel()
	var made, closed int
	Run(t, func() resilience.Policy { made++; return closer{passthrough, &closed} }, Config{})
	assert.Positive(t, made)
	assert.Equal(t, made, closed)
}

// racing calls op twice at once, says so, and runs a resilience.Race: the
// first attempt to succeed wins. It keeps every rule but "sequentially".
type racing struct{}

func (racing) CallsOpConcurrently() bool { return true }

func (racing) Do(ctx context.Context, op func(context.Context) error) error {
	race := resilience.NewRace(ctx)
	defer race.End()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first context.Context
	errs := make([]error, 2)
	panics := make([]any, 2)
	ctxs := make([]context.Context, 2)
	cancels := make([]context.CancelFunc, 2)
	for i := range errs {
		actx, cancel := context.WithCancel(ctx)
		ctxs[i], cancels[i] = race.Attempt(actx), cancel
		defer func() { // the winner's context lives as long as its result (rule 5)
			if ctxs[i] != first || !resilience.DeferRelease(ctx, cancel) {
				cancel()
			}
		}()
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = op(ctxs[i])
			mu.Lock()
			if errs[i] == nil && first == nil {
				first = ctxs[i]
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, v := range panics {
		if v != nil {
			panic(v)
		}
	}
	if first == nil {
		first = ctxs[1]
		race.Win(first)
		return errs[1]
	}
	race.Win(first)
	return nil
}

// A policy that says it calls op concurrently, and keeps the rest of the
// contract, passes every check; under Transport its losing response is
// drained and the winner's body stays readable.
func TestRunAcceptsAConcurrentPolicy(t *testing.T) {
	t.Parallel()
	Run(t, factory(racing{}), Config{})
}

package resiliencetest

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/resiliencekit/resilience"
)

// Check names one check of [Run]; it is also the name of its subtest.
type Check string

// The checks of [Run], in the order they run. See the package doc for what
// each one checks.
const (
	CheckSequential   Check = "Sequential"   // rule 1: op never runs concurrently within one Do
	CheckWaitsForOp   Check = "WaitsForOp"   // rule 1: Do returns after the last op, never calls op after
	CheckContext      Check = "Context"      // rule 2: op's context carries the caller's values and cancel
	CheckCancel       Check = "Cancel"       // rule 2: a cancel makes Do return at once
	CheckErrors       Check = "Errors"       // rule 3: op's error is found in Do's with errors.Is
	CheckPanic        Check = "Panic"        // rule 4: a panic goes on unchanged, and no permit leaks
	CheckDeferRelease Check = "DeferRelease" // rule 5: per-attempt contexts go to resilience.DeferRelease
	CheckHammer       Check = "Hammer"       // rules 1 and 4 under concurrent callers, for -race
)

// Defaults for the zero fields of [Config].
const (
	// DefaultCallers is how many goroutines the hammer runs at once.
	DefaultCallers = 8
	// DefaultCalls is how many calls each caller of the hammer makes.
	DefaultCalls = 64
	// DefaultPanics is how many times [CheckPanic] alternates a panicking
	// call with a succeeding one.
	DefaultPanics = 8
)

// Config holds the optional settings of [Run]. The zero value runs every
// check with the defaults.
type Config struct {
	// Skip names the checks that do not apply to the policy, each with the
	// reason, which the skipped subtest reports. A rejecting policy, for
	// example, skips every check that needs op to run.
	Skip map[Check]string

	// Context, when not nil, prepares every context the kit passes to Do
	// (for example with resilience.WithKey, for a policy that needs a
	// key). It must return a context derived from the one it is given.
	Context func(context.Context) context.Context

	// Callers is how many goroutines [CheckHammer] runs at once. Zero
	// means DefaultCallers.
	Callers int
	// Calls is how many calls each of them makes. Zero means DefaultCalls.
	Calls int
	// Panics is how many panicking calls [CheckPanic] makes, each followed
	// by a call that must succeed. Zero means DefaultPanics; it is at
	// least as large as the number of permits a leak has to exhaust before
	// the kit sees it.
	Panics int
}

// checks lists every check in the order Run runs them.
var checks = []struct {
	name Check
	fn   func(t tb, h *harness)
}{
	{CheckSequential, checkSequential},
	{CheckWaitsForOp, checkWaitsForOp},
	{CheckContext, checkContext},
	{CheckCancel, checkCancel},
	{CheckErrors, checkErrors},
	{CheckPanic, checkPanic},
	{CheckDeferRelease, checkDeferRelease},
	{CheckHammer, checkHammer},
}

// Run checks the policies that newPolicy returns against the contract of
// [resilience.Policy]: each check is a subtest of t, runs in a
// testing/synctest bubble, and gets a fresh policy from newPolicy (called
// inside the bubble, so that the policy's timers run in virtual time). A
// check named in cfg.Skip is skipped with its reason. Run panics when
// newPolicy is nil or cfg.Skip names a check that does not exist.
func Run(t *testing.T, newPolicy func() resilience.Policy, cfg Config) {
	t.Helper()
	if newPolicy == nil {
		panic("resiliencetest: Run with a nil policy factory")
	}
	known := map[Check]bool{}
	for _, c := range checks {
		known[c.name] = true
	}
	for name := range cfg.Skip {
		if !known[name] {
			panic("resiliencetest: Config.Skip names no check: " + string(name))
		}
	}
	for _, c := range checks {
		t.Run(string(c.name), func(t *testing.T) {
			if reason, ok := cfg.Skip[c.name]; ok {
				t.Skip(reason)
			}
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(newPolicy, cfg)
				defer h.close()
				c.fn(t, h)
			})
		})
	}
}

// tb is the part of testing.TB the checks use, so that the kit's own tests
// can record what a check reports about a broken policy.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// harness hands fresh policies to one check and closes them at its end.
type harness struct {
	newPolicy func() resilience.Policy
	cfg       Config
	mu        sync.Mutex
	closers   []func()
}

func newHarness(newPolicy func() resilience.Policy, cfg Config) *harness {
	if cfg.Callers <= 0 {
		cfg.Callers = DefaultCallers
	}
	if cfg.Calls <= 0 {
		cfg.Calls = DefaultCalls
	}
	if cfg.Panics <= 0 {
		cfg.Panics = DefaultPanics
	}
	return &harness{newPolicy: newPolicy, cfg: cfg}
}

func (h *harness) policy(t tb) resilience.Policy {
	t.Helper()
	p := h.newPolicy()
	if p == nil {
		t.Errorf("resiliencetest: the policy factory returned nil")
		t.FailNow()
	}
	if c, ok := p.(interface{ Close() }); ok {
		h.mu.Lock()
		h.closers = append(h.closers, c.Close)
		h.mu.Unlock()
	}
	return p
}

func (h *harness) skipped(c Check) bool {
	_, ok := h.cfg.Skip[c]
	return ok
}

// ctx is a caller's context: derived from parent, prepared by Config.Context.
func (h *harness) ctx(parent context.Context) context.Context {
	if h.cfg.Context != nil {
		return h.cfg.Context(parent)
	}
	return parent
}

func (h *harness) close() {
	h.mu.Lock()
	cs := h.closers
	h.closers = nil
	h.mu.Unlock()
	for _, c := range cs {
		c()
	}
}

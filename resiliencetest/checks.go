package resiliencetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing/synctest"
	"time"

	"github.com/resiliencekit/resilience"
)

// guard bounds every wait of the kit, in virtual time: an op that waits for
// its context gives up after guard, and a Do that has not returned guard
// after the cancel of its caller's context is reported.
const guard = time.Hour

// settleTime is how long a check lets pass after a call, in virtual time,
// for a call of op that a broken policy left to run later.
const settleTime = time.Second

// errTransient is what op returns when a check wants the policy to try
// again (a retry) or count a failure (a breaker).
var errTransient = errors.New("resiliencetest: transient failure of op")

// opError is the error of op in CheckErrors, one value per call, so that
// errors.Is finds exactly that one.
type opError struct{ n int }

func (e *opError) Error() string { return fmt.Sprintf("resiliencetest: op failed (error %d)", e.n) }

// panicValue is what op panics with; it is a pointer, so that the kit can
// tell the same value from an equal copy or a wrapper.
type panicValue struct{ n int }

func (v *panicValue) String() string { return fmt.Sprintf("resiliencetest: panic %d of op", v.n) }

type ctxKey struct{}

// tracker watches the calls of op made by one Do.
type tracker struct {
	calls, active, maxActive, late atomic.Int32
	returned                       atomic.Bool
	entered                        chan struct{} // closed at the first call
	once                           sync.Once
}

func newTracker() *tracker { return &tracker{entered: make(chan struct{})} }

// op wraps body so that its calls are tracked.
func (tr *tracker) op(body func(ctx context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		tr.calls.Add(1)
		if tr.returned.Load() {
			tr.late.Add(1)
		}
		a := tr.active.Add(1)
		for {
			m := tr.maxActive.Load()
			if a <= m || tr.maxActive.CompareAndSwap(m, a) {
				break
			}
		}
		tr.once.Do(func() { close(tr.entered) })
		defer tr.active.Add(-1)
		return body(ctx)
	}
}

// result is what one Do ended with.
type result struct {
	err       error
	recovered any  // the value of a panic that came out of Do
	panicked  bool // Do panicked
	running   int32
	at        time.Time
}

// do calls p.Do(ctx, op), recovering a panic, and notes how many calls of op
// were still running when Do returned.
func (tr *tracker) do(p resilience.Policy, ctx context.Context, op func(context.Context) error) (r result) {
	defer func() {
		if v := recover(); v != nil {
			r.recovered, r.panicked = v, true
		}
		r.running = tr.active.Load()
		r.at = time.Now()
		tr.returned.Store(true)
	}()
	r.err = p.Do(ctx, op)
	return r
}

// start runs tr.do in a goroutine; the channel delivers its result.
func (tr *tracker) start(p resilience.Policy, ctx context.Context, op func(context.Context) error) <-chan result {
	done := make(chan result, 1)
	go func() { done <- tr.do(p, ctx, op) }()
	return done
}

// waitEntered waits until op was first called, or Do returned without
// calling it (then the result is returned), or guard passed.
func (tr *tracker) waitEntered(done <-chan result) (r result, returned, entered bool) {
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case <-tr.entered:
		return r, false, true
	case r = <-done:
		synctest.Wait() // a broken policy may have left op to run on its own
		return r, true, tr.calls.Load() > 0
	case <-timer.C:
		return r, false, false
	}
}

// settle lets the calls of op still running finish (a broken policy may
// leave some behind), so that the check ends with nothing of its own left in
// the bubble.
func settle(trs ...*tracker) {
	// A moment for a call of op that a broken policy scheduled for later.
	time.Sleep(settleTime)
	synctest.Wait()
	for range 2 * guard / time.Minute {
		running := false
		for _, tr := range trs {
			if tr.active.Load() > 0 {
				running = true
			}
		}
		if !running {
			return
		}
		time.Sleep(time.Minute)
		synctest.Wait()
	}
}

// waitFor waits for Do's result after the caller's context was cancelled at
// start; it reports how long Do took to return, and false when it had not
// returned after guard (then it waits on for it).
func waitFor(done <-chan result, start time.Time) (result, time.Duration, bool) {
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case r := <-done:
		return r, r.at.Sub(start), true
	case <-timer.C:
		r := <-done
		return r, r.at.Sub(start), false
	}
}

// waitCtx is an op's body that waits for its context to end (returning its
// error) or for guard to pass (returning errTransient).
func waitCtx(ctx context.Context) error {
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errTransient
	}
}

func notCalled(c Check, r result) string {
	return fmt.Sprintf("op was never called (Do returned %s); a policy that by design does not call op "+
		"must skip this check: resiliencetest.Config{Skip: map[resiliencetest.Check]string{resiliencetest.Check%s: \"why\"}}",
		r.describe(), c)
}

func (r result) describe() string {
	if r.panicked {
		return fmt.Sprintf("by panicking with %v", r.recovered)
	}
	return fmt.Sprintf("%v", r.err)
}

// rethrown reports a panic out of Do that the check did not cause.
func rethrown(t tb, r result) bool {
	t.Helper()
	if r.panicked {
		t.Errorf("Do panicked with %v although op did not panic", r.recovered)
		return true
	}
	return false
}

// checkSequential: rule 1, op never runs concurrently with itself within
// one Do, even when it fails and is called again.
func checkSequential(t tb, h *harness) {
	t.Helper()
	p := h.policy(t)
	tr := newTracker()
	r := tr.do(p, h.ctx(context.Background()), tr.op(func(context.Context) error {
		time.Sleep(10 * time.Millisecond)
		return errTransient
	}))
	settle(tr)
	if rethrown(t, r) {
		return
	}
	if tr.calls.Load() == 0 {
		t.Errorf("%s", notCalled(CheckSequential, r))
		return
	}
	if m := tr.maxActive.Load(); m > 1 && !concurrent(p) {
		t.Errorf("one Do ran %d calls of op at once; op must be called sequentially, never concurrently (rule 1 of resilience.Policy), "+
			"unless the policy is a resilience.ConcurrentPolicy that says so", m)
	}
}

// concurrent reports whether p says it may call op concurrently (a hedge).
func concurrent(p resilience.Policy) bool {
	c, ok := p.(resilience.ConcurrentPolicy)
	return ok && c.CallsOpConcurrently()
}

// checkWaitsForOp: rule 1, Do does not return before the last op returned,
// nor call op after it returned; with op succeeding, failing, and ignoring
// a cancel of the caller's context.
func checkWaitsForOp(t tb, h *harness) {
	t.Helper()
	cases := []struct {
		name   string
		cancel bool // the caller cancels while op sleeps
		err    error
	}{
		{"op succeeds", false, nil},
		{"op fails", false, errTransient},
		{"the caller cancels while op ignores it", true, nil},
	}
	for _, c := range cases {
		p := h.policy(t)
		tr := newTracker()
		parent, cancel := context.WithCancel(context.Background())
		r := tr.do(p, h.ctx(parent), tr.op(func(context.Context) error {
			if c.cancel {
				cancel()
			}
			time.Sleep(10 * time.Millisecond)
			return c.err
		}))
		cancel()
		settle(tr)
		switch {
		case rethrown(t, r):
		case tr.late.Load() > 0: // reported below
		case tr.calls.Load() == 0:
			t.Errorf("%s: %s", c.name, notCalled(CheckWaitsForOp, r))
		case r.running > 0:
			t.Errorf("%s: Do returned (%v) while op was still running; Do must not return before the last call of op returned (rule 1 of resilience.Policy)", c.name, r.err)
		}
		if n := tr.late.Load(); n > 0 {
			t.Errorf("%s: op was called %d times after Do returned (rule 1 of resilience.Policy)", c.name, n)
		}
	}
}

// checkContext: rule 2, op's context carries the caller's values and is
// cancelled when the caller's is.
func checkContext(t tb, h *harness) {
	t.Helper()
	p := h.policy(t)
	tr := newTracker()
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "caller's value"))
	defer cancel()
	var noValue, notCancelled atomic.Int32
	done := tr.start(p, h.ctx(parent), tr.op(func(ctx context.Context) error {
		if ctx.Value(ctxKey{}) != "caller's value" {
			noValue.Add(1)
		}
		err := waitCtx(ctx)
		if err == errTransient { // guard passed: the cancel never reached op
			notCancelled.Add(1)
		}
		return err
	}))
	r, returned, entered := tr.waitEntered(done)
	cancel()
	if !returned {
		r = <-done
	}
	settle(tr)
	if !entered {
		if !rethrown(t, r) {
			t.Errorf("%s", notCalled(CheckContext, r))
		}
		return
	}
	if n := noValue.Load(); n > 0 {
		t.Errorf("op's context lacks the values of the caller's context (%d of %d calls): "+
			"op must get a context derived from the caller's (rule 2 of resilience.Policy)", n, tr.calls.Load())
	}
	if notCancelled.Load() > 0 {
		t.Errorf("op's context was not cancelled when the caller's context was (op waited %v for it): "+
			"op must get a context derived from the caller's (rule 2 of resilience.Policy)", guard)
	}
}

// checkCancel: rule 2, Do stops waiting at once when the caller's context is
// cancelled: while op runs, between attempts, while waiting behind another
// call, and when the context is done on entry.
func checkCancel(t tb, h *harness) {
	t.Helper()
	late := func(where string, d time.Duration, ok bool) {
		t.Helper()
		switch {
		case !ok:
			t.Errorf("%s: Do had not returned %v after the caller's context was cancelled (it returned after %v); "+
				"a cancelled caller's context must make Do stop waiting at once (rule 2 of resilience.Policy)", where, guard, d)
		case d > 0:
			t.Errorf("%s: Do returned %v after the caller's context was cancelled; "+
				"a cancelled caller's context must make Do stop waiting at once (rule 2 of resilience.Policy)", where, d)
		}
	}
	calledOnce := false

	// While op runs (op waits for its context).
	{
		p := h.policy(t)
		tr := newTracker()
		parent, cancel := context.WithCancel(context.Background())
		done := tr.start(p, h.ctx(parent), tr.op(waitCtx))
		_, returned, _ := tr.waitEntered(done)
		start := time.Now()
		cancel()
		if !returned {
			r, d, ok := waitFor(done, start)
			rethrown(t, r)
			late("while op runs", d, ok)
		}
		settle(tr)
		calledOnce = calledOnce || tr.calls.Load() > 0
	}

	// Between attempts (op fails at once; a retry waits before the next).
	{
		p := h.policy(t)
		tr := newTracker()
		parent, cancel := context.WithCancel(context.Background())
		done := tr.start(p, h.ctx(parent), tr.op(func(context.Context) error { return errTransient }))
		_, returned, _ := tr.waitEntered(done)
		if !returned {
			synctest.Wait() // the policy waits, or has returned
			before := tr.calls.Load()
			start := time.Now()
			cancel()
			r, d, ok := waitFor(done, start)
			rethrown(t, r)
			late("after op failed", d, ok)
			if n := tr.calls.Load() - before; n > 0 {
				t.Errorf("after op failed: Do called op %d more times after the caller's context was cancelled (rule 2 of resilience.Policy)", n)
			}
		}
		cancel()
		settle(tr)
		calledOnce = calledOnce || tr.calls.Load() > 0
	}

	// Waiting behind another call (a full bulkhead with a queue, a rate
	// limiter that waits for a token).
	{
		p := h.policy(t)
		holder := newTracker()
		release := make(chan struct{})
		held := holder.start(p, h.ctx(context.Background()), holder.op(func(context.Context) error {
			timer := time.NewTimer(guard)
			defer timer.Stop()
			select {
			case <-release:
			case <-timer.C:
			}
			return nil
		}))
		_, returned, _ := holder.waitEntered(held)
		waiter := newTracker()
		if !returned {
			parent, cancel := context.WithCancel(context.Background())
			done := waiter.start(p, h.ctx(parent), waiter.op(func(context.Context) error { return nil }))
			synctest.Wait()
			start := time.Now()
			cancel()
			r, d, ok := waitFor(done, start)
			rethrown(t, r)
			late("while waiting behind another call", d, ok)
			close(release)
			<-held
		}
		settle(holder, waiter)
		calledOnce = calledOnce || holder.calls.Load() > 0
	}

	// A context done on entry.
	{
		p := h.policy(t)
		tr := newTracker()
		parent, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		done := tr.start(p, h.ctx(parent), tr.op(waitCtx))
		r, d, ok := waitFor(done, start)
		rethrown(t, r)
		late("with a context done on entry", d, ok)
		settle(tr)
	}

	if !calledOnce {
		t.Errorf("%s", notCalled(CheckCancel, result{err: errors.New("(not recorded)")}))
	}
}

// checkErrors: rule 3, op's success is Do's success, and op's error is
// found in Do's error with errors.Is.
func checkErrors(t tb, h *harness) {
	t.Helper()
	{
		p := h.policy(t)
		tr := newTracker()
		r := tr.do(p, h.ctx(context.Background()), tr.op(func(context.Context) error { return nil }))
		settle(tr)
		switch {
		case rethrown(t, r):
		case tr.calls.Load() == 0:
			t.Errorf("%s", notCalled(CheckErrors, r))
		case r.err != nil:
			t.Errorf("op succeeded but Do returned %v (rule 3 of resilience.Policy)", r.err)
		}
	}
	{
		p := h.policy(t)
		tr := newTracker()
		var last atomic.Pointer[opError]
		var n atomic.Int32
		r := tr.do(p, h.ctx(context.Background()), tr.op(func(context.Context) error {
			e := &opError{n: int(n.Add(1))}
			last.Store(e)
			return e
		}))
		settle(tr)
		switch {
		case rethrown(t, r):
		case tr.calls.Load() == 0:
			t.Errorf("%s", notCalled(CheckErrors, r))
		case r.err == nil:
			t.Errorf("op failed with %v but Do returned nil: op's error was swallowed (rule 3 of resilience.Policy)", last.Load())
		case !errors.Is(r.err, last.Load()):
			var any *opError
			if errors.As(r.err, &any) && concurrent(p) {
				// Calls of op run at once: "the last" is whichever the
				// policy returns. One of op's errors is what rule 3 asks.
			} else if errors.As(r.err, &any) {
				t.Errorf("Do returned %v, which wraps the error of an earlier call of op, not the last one (%v) (rule 3 of resilience.Policy)", r.err, last.Load())
			} else {
				t.Errorf("Do returned %v, in which errors.Is does not find op's error %q; wrap it with %%w (rule 3 of resilience.Policy)", r.err, last.Load())
			}
		}
	}
}

// checkPanic: rule 4, a panic in op reaches the caller of Do unchanged, and
// the policy still admits calls afterwards.
func checkPanic(t tb, h *harness) {
	t.Helper()
	p := h.policy(t)
	ctx := h.ctx(context.Background())
	for i := 1; i <= h.cfg.Panics; i++ {
		v := &panicValue{n: i}
		tr := newTracker()
		r := tr.do(p, ctx, tr.op(func(context.Context) error { panic(v) }))
		settle(tr)
		switch {
		case tr.calls.Load() == 0:
			t.Errorf("call %d: %s", 2*i-1, notCalled(CheckPanic, r))
			return
		case !r.panicked:
			t.Errorf("op panicked with %v but Do returned %v: the panic was swallowed; it must reach the caller of Do unchanged (rule 4 of resilience.Policy)", v, r.err)
			return
		case r.recovered != any(v):
			t.Errorf("op panicked with %v but the caller of Do recovered %v (%T): the panic must reach the caller of Do unchanged (rule 4 of resilience.Policy)", v, r.recovered, r.recovered)
			return
		case r.running > 0:
			t.Errorf("Do panicked while op was still running (rule 1 of resilience.Policy)")
			return
		}
		// A policy that queues callers would wait for a leaked permit
		// forever: the guard turns that into an error.
		tr = newTracker()
		gctx, cancel := context.WithTimeout(ctx, guard)
		r = tr.do(p, gctx, tr.op(func(context.Context) error { return nil }))
		cancel()
		settle(tr)
		switch {
		case rethrown(t, r):
			return
		case r.err != nil || tr.calls.Load() == 0:
			t.Errorf("after %d panics in op (each followed by a success), Do returned %v for an op that succeeds (op called %d times): "+
				"the policy's state was not restored after the panic, a permit leaked? (rule 4 of resilience.Policy)", i, r.err, tr.calls.Load())
			return
		}
	}
}

// ctxBody is a response body that, like a real one, cannot be read once
// the context of its request is done.
type ctxBody struct {
	ctx context.Context
	r   io.Reader
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b *ctxBody) Close() error { return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const body = "the body, read after RoundTrip returned"

// checkDeferRelease: rule 5, under resilience.Transport the response body
// stays readable after RoundTrip returned.
func checkDeferRelease(t tb, h *harness) {
	t.Helper()
	p := h.policy(t)
	var calls atomic.Int32
	var attempt atomic.Pointer[context.Context]
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		calls.Add(1)
		ctx := req.Context()
		attempt.Store(&ctx)
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, ContentLength: -1, Request: req,
			Body: &ctxBody{ctx: req.Context(), r: strings.NewReader(body)},
		}, nil
	})
	req, err := http.NewRequestWithContext(h.ctx(context.Background()), http.MethodGet, "http://resiliencetest.invalid/", nil)
	if err != nil {
		t.Errorf("resiliencetest: %v", err)
		return
	}
	resp, err := resilience.Transport(rt, p).RoundTrip(req)
	if err != nil {
		if calls.Load() == 0 {
			t.Errorf("%s", notCalled(CheckDeferRelease, result{err: err}))
		} else {
			t.Errorf("RoundTrip under the policy failed: %v", err)
		}
		return
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(got) != body {
		t.Errorf("the response body could not be read after RoundTrip returned (read %q, %v): the context of the attempt "+
			"ended when op returned; a policy that derives a per-attempt context must hand its cancel to "+
			"resilience.DeferRelease(ctx, cancel), and call it itself only when that returns false (rule 5 of resilience.Policy)", got, err)
		return
	}
	// The caller's context cannot be cancelled; an attempt's context that
	// can, and still lives once the body is closed, was derived by the
	// policy, whose cancel nobody ran.
	synctest.Wait()
	if actx := *attempt.Load(); req.Context().Done() == nil && actx.Done() != nil && actx.Err() == nil {
		t.Errorf("the context of the attempt was still live after the response body was closed: the policy derived it " +
			"and neither cancelled it nor handed its cancel to resilience.DeferRelease (rule 5 of resilience.Policy)")
	}
}

// checkHammer: many concurrent callers, with successes, failures, slow
// calls, panics and cancels, each call checked against rule 1.
func checkHammer(t tb, h *harness) {
	t.Helper()
	p := h.policy(t)
	panics := !h.skipped(CheckPanic)
	var (
		mu         sync.Mutex
		violations []string
		nviolation int
		trackers   []*tracker
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		nviolation++
		if len(violations) < 5 {
			violations = append(violations, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	for g := range h.cfg.Callers {
		wg.Go(func() {
			for i := range h.cfg.Calls {
				tr := newTracker()
				mu.Lock()
				trackers = append(trackers, tr)
				mu.Unlock()
				// The guard ends a call that waits for a permit a panic leaked.
				parent, cancel := context.WithTimeout(context.Background(), guard)
				ctx := h.ctx(parent)
				v := &panicValue{n: g*h.cfg.Calls + i}
				var body func(context.Context) error
				switch (g*7 + i*13) % 6 {
				case 0:
					body = func(context.Context) error { return nil }
				case 1:
					body = func(context.Context) error { return errTransient }
				case 2:
					body = func(context.Context) error { time.Sleep(time.Millisecond); return nil }
				case 3:
					if panics {
						body = func(context.Context) error { panic(v) }
					} else {
						body = func(context.Context) error { return errTransient }
					}
				case 4: // the caller gives up while op runs
					time.AfterFunc(time.Millisecond, cancel)
					body = waitCtx
				case 5: // the caller gives up before the call
					cancel()
					body = func(context.Context) error { return nil }
				}
				start := time.Now()
				r := tr.do(p, ctx, tr.op(body))
				cancel()
				if d := r.at.Sub(start); d >= guard {
					report("caller %d, call %d: Do took %v, though every op of the hammer returns within a millisecond "+
						"(or of its caller's cancel): a permit leaked by a panic (rule 4), or op's context not derived from the caller's (rule 2)?", g, i, d)
				}
				if r.running > 0 {
					report("caller %d, call %d: Do returned while op was still running (rule 1)", g, i)
				}
				if m := tr.maxActive.Load(); m > 1 && !h.skipped(CheckSequential) && !concurrent(p) {
					report("caller %d, call %d: one Do ran %d calls of op at once (rule 1)", g, i, m)
				}
				if r.panicked && (!panics || r.recovered != any(v)) {
					report("caller %d, call %d: Do panicked with %v; op panicked with %v (rule 4)", g, i, r.recovered, panicOf(panics, v))
				}
				if panics && (g*7+i*13)%6 == 3 && tr.calls.Load() > 0 && !r.panicked {
					report("caller %d, call %d: op panicked but Do returned %v (rule 4)", g, i, r.err)
				}
			}
		})
	}
	wg.Wait()
	settle(trackers...)
	for _, tr := range trackers {
		if n := tr.late.Load(); n > 0 {
			report("op was called %d times after its Do returned (rule 1)", n)
		}
	}
	if nviolation > 0 {
		t.Errorf("%d callers making %d calls each broke the contract of resilience.Policy %d times; the first:\n\t%s",
			h.cfg.Callers, h.cfg.Calls, nviolation, strings.Join(violations, "\n\t"))
	}
}

func panicOf(panics bool, v *panicValue) any {
	if panics {
		return v
	}
	return "nothing"
}

package retry

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resiliencekit/resilience"
)

// Retry retries failed operations with backoff and jitter, within the
// caller's deadline and an optional retry [Budget]. It is a
// resilience.Policy. Create it with [New]; the zero value is not usable.
// A Retry is safe for concurrent use by many goroutines, and keeps no
// per-call state between calls: one Retry serves every call to a
// downstream.
type Retry struct {
	maxRetries   int
	newBackoff   func() backoff.BackOff
	initialDelay time.Duration
	multiplier   float64
	maxDelay     time.Duration
	jitter       Jitter
	jitterFactor float64
	raJitter     float64 // RetryAfterJitter
	waitOnReject bool
	maxElapsed   time.Duration
	retryable    func(error) bool
	onRetry      func(ctx context.Context, attempt int, err error, delay time.Duration)
	budget       Budget
	observer     resilience.Observer
	stats        *stats // written on the slow path only, kept off the lines Do reads

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand

	name string // after the fields Do reads, to leave their layout as it was
}

// New returns a Retry configured by c, whose zero fields take their
// defaults (see [Config]). It panics with a "retry: ..." message on an
// invalid configuration.
func New(c Config) *Retry {
	c = c.withDefaults()
	return &Retry{
		name:         c.Name,
		maxRetries:   c.MaxRetries,
		newBackoff:   c.Backoff,
		initialDelay: c.InitialDelay,
		multiplier:   c.Multiplier,
		maxDelay:     c.MaxDelay,
		jitter:       c.Jitter,
		jitterFactor: c.JitterFactor,
		raJitter:     c.RetryAfterJitter,
		waitOnReject: c.WaitOnRejection,
		maxElapsed:   c.MaxElapsed,
		retryable:    c.Retryable,
		onRetry:      c.OnRetry,
		budget:       c.Budget,
		observer:     c.Observer,
		stats:        new(stats),
		rnd:          c.Rand,
	}
}

// Do calls op, and calls it again after a delay each time it fails with an
// error worth retrying, until it succeeds or a limit is reached (see the
// package documentation). It returns nil on success; op's error as it is
// when that error is not retried (permanent, rejected by Retryable, or
// returned after ctx ended); ctx.Err() when ctx ends while Do waits; and an
// [*ExhaustedError] wrapping the last error when Do gives up, including at
// once, with ReasonRejected, when op's error is a local rejection
// (resilience.IsLocalRejection) and Config.WaitOnRejection does not ask to
// wait for it.
//
// Do keeps the contract of resilience.Policy: op is called sequentially,
// with ctx itself, and Do never returns before op returned; when ctx is
// done Do stops waiting at once and starts no further attempt; a panic in
// op counts as a failure for the Budget and propagates unchanged, with no
// retry.
//
// A call whose first attempt succeeds allocates nothing and, without a
// Budget or an Observer, costs little more than calling op.
func (r *Retry) Do(ctx context.Context, op func(context.Context) error) error {
	if r.observer != nil {
		return r.doObserved(ctx, op)
	}
	var start time.Time
	if r.maxElapsed > 0 {
		start = time.Now()
	}
	if r.budget != nil {
		r.budget.Request()
	}
	err := r.call(ctx, op)
	if err == nil {
		return nil
	}
	return r.retry(ctx, op, err, start)
}

// doObserved is Do with an Observer: it reads the clock at the start of the
// call, which also serves MaxElapsed, and reports the first attempt.
func (r *Retry) doObserved(ctx context.Context, op func(context.Context) error) error {
	start := time.Now()
	if r.budget != nil {
		r.budget.Request()
	}
	err := r.call(ctx, op)
	d := time.Since(start)
	r.observe(ctx, resilience.EventAttempt, 1, d, err)
	if err == nil {
		r.observe(ctx, resilience.EventDone, 1, d, nil)
		return nil
	}
	return r.retry(ctx, op, err, start)
}

// observe hands the Observer an event of kind about attempt n. The Event is
// passed by value: reporting allocates nothing.
func (r *Retry) observe(ctx context.Context, kind resilience.EventKind, n int, d time.Duration, err error) {
	r.observer.Observe(ctx, resilience.Event{
		Kind: kind, Policy: "retry", Name: r.name, Attempt: n, Duration: d, Err: err,
	})
}

// call runs one attempt and tells the budget how it went. A panic counts
// as a failure and goes on.
func (r *Retry) call(ctx context.Context, op func(context.Context) error) error {
	if r.budget == nil {
		return op(ctx)
	}
	returned := false
	defer func() {
		if !returned {
			r.budget.Failure()
		}
	}()
	err := op(ctx)
	returned = true
	if err == nil {
		r.budget.Success()
	}
	return err
}

// attemptState is what one call of Do remembers across its retries. It
// lives on the stack of retry.
type attemptState struct {
	delays Schedule    // the delays of this call's retries
	timer  *time.Timer // made at the first sleep, reused after
}

// retry is the slow path of Do, entered after the first attempt failed
// with err. With an Observer, start is when Do began; without one, it is
// set only with MaxElapsed.
func (r *Retry) retry(ctx context.Context, op func(context.Context) error, err error, start time.Time) error {
	attempts, err := r.retryLoop(ctx, op, err, start)
	if r.observer != nil {
		r.observe(ctx, resilience.EventDone, attempts, time.Since(start), err)
	}
	return err
}

// retryLoop retries after the first attempt failed with err, and returns
// the number of attempts made and what Do returns.
func (r *Retry) retryLoop(ctx context.Context, op func(context.Context) error, err error, start time.Time) (int, error) {
	st := attemptState{delays: r.Schedule()}
	defer st.stopTimer()
	for attempts := 1; ; {
		if ctx.Err() != nil || permanent(err) || r.retryable != nil && !r.retryable(err) {
			return attempts, err
		}
		// A local rejection is not the dependency's failure: no
		// Budget.Failure, and no wait unless asked for (and possible).
		wait, hasWait := resilience.RetryAfter(err)
		if resilience.IsLocalRejection(err) {
			r.stats.localRejections.Add(1)
			if !r.waitOnReject || !hasWait {
				return attempts, r.giveUp(attempts, ReasonRejected, err)
			}
		} else if r.budget != nil {
			r.budget.Failure()
		}
		if attempts > r.maxRetries {
			return attempts, r.giveUp(attempts, ReasonMaxRetries, err)
		}
		delay, ok := st.delays.Next()
		if !ok {
			return attempts, r.giveUp(attempts, ReasonBackoffStop, err)
		}
		if hasWait {
			if wait > r.maxDelay {
				return attempts, r.giveUp(attempts, ReasonRetryAfter, err)
			}
			delay = max(delay, r.spreadRetryAfter(ctx, start, wait))
		}
		if reason := r.timeLeft(ctx, start, delay); reason != 0 {
			return attempts, r.giveUp(attempts, reason, err)
		}
		if r.budget != nil && !r.budget.Withdraw() {
			ex := r.giveUp(attempts, ReasonBudget, err)
			if r.observer != nil {
				r.observer.Observe(ctx, resilience.Event{
					Kind: resilience.EventReject, Policy: "retry", Name: r.name, Reason: "budget", Err: ex,
				})
			}
			return attempts, ex
		}
		r.stats.retries.Add(1)
		if r.onRetry != nil {
			r.onRetry(ctx, attempts, err, delay)
		}
		if r.observer != nil {
			r.observe(ctx, resilience.EventRetry, attempts+1, delay, err)
		}
		if err := st.sleep(ctx, delay); err != nil {
			return attempts, err
		}
		attempts++
		var begun time.Time
		if r.observer != nil {
			begun = time.Now()
		}
		err = r.call(ctx, op)
		if r.observer != nil {
			r.observe(ctx, resilience.EventAttempt, attempts, time.Since(begun), err)
		}
		if err == nil {
			return attempts, nil
		}
	}
}

// giveUp counts a call given up for reason and returns its error.
func (r *Retry) giveUp(attempts int, reason Reason, err error) error {
	r.stats.gaveUp[reason].Add(1)
	return &ExhaustedError{Attempts: attempts, Reason: reason, Err: err}
}

// spreadRetryAfter returns the wait for a Retry-After of ra (at most
// MaxDelay): a random time in [ra, hi), hi = min(ra·(1+RetryAfterJitter),
// MaxDelay, the time left before the caller's deadline or the end of
// MaxElapsed). It returns ra itself when there is no room above it (no
// spread, ra = MaxDelay, or ra at or past the time left: timeLeft then
// gives up).
func (r *Retry) spreadRetryAfter(ctx context.Context, start time.Time, ra time.Duration) time.Duration {
	if r.raJitter == 0 {
		return ra
	}
	hi := r.maxDelay
	if x := float64(ra) * (1 + r.raJitter); x < float64(hi) {
		hi = time.Duration(x)
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline || r.maxElapsed > 0 {
		now := time.Now()
		if hasDeadline {
			hi = min(hi, deadline.Sub(now))
		}
		if r.maxElapsed > 0 {
			hi = min(hi, r.maxElapsed-now.Sub(start))
		}
	}
	if hi <= ra {
		return ra
	}
	return ra + scale(hi-ra, r.float64())
}

// timeLeft returns the reason to give up when an attempt that starts after
// delay would start at or after the caller's deadline or the end of
// MaxElapsed, and 0 when it can start in time.
func (r *Retry) timeLeft(ctx context.Context, start time.Time, delay time.Duration) Reason {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline && r.maxElapsed == 0 {
		return 0
	}
	next := time.Now().Add(delay)
	if hasDeadline && !next.Before(deadline) {
		return ReasonDeadline
	}
	if r.maxElapsed > 0 && next.Sub(start) >= r.maxElapsed {
		return ReasonMaxElapsed
	}
	return 0
}

// sleep waits for d, or until ctx is done, in which case it returns
// ctx.Err().
func (st *attemptState) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if st.timer == nil {
		st.timer = time.NewTimer(d)
	} else {
		st.timer.Reset(d)
	}
	select {
	case <-st.timer.C:
		return ctx.Err() // ended as the timer fired: still no new attempt
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *attemptState) stopTimer() {
	if st.timer != nil {
		st.timer.Stop()
	}
}

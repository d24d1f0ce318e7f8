package ratelimit

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/bytelimit"
	"github.com/resiliencekit/resilience/ratelimit/internal/pause"
)

// Limiter is a token bucket rate limiter (golang.org/x/time/rate underneath)
// and a resilience.Policy: Do runs the operation when its tokens are there,
// waits for them up to [Config.MaxWait], or refuses the call with a
// [*LimitedError] that matches [ErrLimited], says when to come back and is
// a local rejection.
//
// Use it on the client side to pace the calls to a downstream or a paid
// API, and on the server side, as a policy of resilience.Handler, to refuse
// what exceeds a global quota with 429 Too Many Requests; its Do then
// writes the RateLimit headers (see [Config.Headers]). For one bucket per
// client, customer, API key or host, use [Group].
//
// When the operation fails with 429 Too Many Requests and a Retry-After
// (see [Config.MaxPause]) the limiter pauses: it admits nothing until that
// time has passed, up to MaxPause; the bucket keeps filling meanwhile.
//
// A Limiter is safe for concurrent use. The success path of Do and Allow
// takes one lock inside rate.Limiter and allocates nothing. A Limiter must
// be made with [New]; the zero value is not usable.
type Limiter struct {
	lim     *rate.Limiter
	epoch   time.Time // origin of pausedUntil, read on the monotonic clock
	name    string
	s       settings
	mu      sync.Mutex // serializes the reservations of waiting calls
	waiters atomic.Int64
	paused  atomic.Int64 // nanoseconds since epoch until which nothing is admitted; 0: none

	refusals lastRefusal // the last refusal, handed out again while it says the same
}

// New returns a Limiter that admits r calls per second on average (a
// rate.Limit: a float64, so 0.5 is one call every two seconds; rate.Every
// converts an interval, rate.Inf admits everything) with bursts of up to
// burst calls. A bucket starts full. The zero fields of the Config
// are defaults. New panics if the limit is invalid (see
// [Quota]: a negative, NaN or +Inf r, or a burst below 1 unless r is
// rate.Inf) or the Config is.
func New(r rate.Limit, burst int, c Config) *Limiter {
	s := c.resolve()
	Quota{Rate: r, Burst: burst}.check("", "")
	return &Limiter{
		lim:   rate.NewLimiter(r, burst),
		epoch: time.Now(),
		name:  c.Name,
		s:     s,
	}
}

// Do runs op if the limiter admits the call, and returns op's error; or it
// returns a [*LimitedError] without running op. The call takes
// [Config.Cost] tokens (1 by default). It waits for them only with a
// [Config.MaxWait] and never longer, nor past the deadline of ctx; when ctx
// is done while waiting, Do returns ctx.Err() at once and gives the tokens
// it had reserved back to the bucket. Under resilience.Handler it writes
// the RateLimit headers of its decision (see [Config.Headers]), on an
// admitted call before op runs. With [Config.DryRun] it decides and
// reports, then runs op anyway.
//
// Do keeps the resilience.Policy contract: op runs at most once, with ctx,
// and Do returns only after it returned. A panic in op propagates
// (the tokens stay spent: the call did happen).
func (l *Limiter) Do(ctx context.Context, op func(context.Context) error) error {
	n := l.s.costOf(ctx)
	if l.s.dryRun {
		l.dry(ctx, n)
		return l.run(ctx, op)
	}
	var h http.Header
	if l.s.headers != NoHeaders {
		h = resilience.ResponseHeader(ctx)
	}
	now := time.Now()
	if p := l.paused.Load(); p != 0 || !l.lim.AllowN(now, n) {
		if err := l.slow(ctx, n, p == 0, now); err != nil {
			if h != nil {
				l.setHeaders(h, n, err)
			}
			return err
		}
	}
	if h != nil {
		l.setHeaders(h, n, nil)
	}
	return l.run(ctx, op)
}

func (l *Limiter) run(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	if err != nil && l.s.MaxPause > 0 {
		if d, ok := pause.FromError(err); ok {
			l.Pause(min(d, l.s.MaxPause))
		}
	}
	return err
}

// setHeaders writes the headers of a decision of Do: err is nil for an
// admitted call, or its refusal.
func (l *Limiter) setHeaders(h http.Header, n int, err error) {
	var le *LimitedError
	if err != nil && !errors.As(err, &le) {
		return // the context ended: no decision to report
	}
	lim := l.Quota()
	if lim.Rate == rate.Inf {
		return
	}
	d := Decision{Allowed: le == nil, Quota: lim}
	tokens := l.lim.TokensAt(time.Now())
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = durationOfTokens(lim.Rate, float64(lim.Burst)-tokens)
	if lim.Rate == 0 {
		d.Reset = never
	}
	if le != nil {
		d.Reason, d.RetryAfter = le.Reason(), le.RetryAfter()
		if d.Reason == ReasonPaused {
			d.Remaining = 0
		}
	}
	d.SetHeaders(h, l.s.headers)
}

// dry decides a call of Do in dry-run, reporting what would be refused.
func (l *Limiter) dry(ctx context.Context, n int) {
	now := time.Now()
	budget := l.budget(ctx, now)
	if l.lim.Limit() != rate.Inf && n > l.lim.Burst() {
		l.reject(ctx, ReasonTooCostly, 0, now, now)
		return
	}
	if p := l.pauseLeft(now); p > budget {
		l.reject(ctx, ReasonPaused, p, now, now)
		return
	}
	l.mu.Lock()
	r := l.lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > budget {
		r.CancelAt(now)
		l.mu.Unlock()
		l.reject(ctx, ReasonRate, d, now, now)
		return
	}
	l.mu.Unlock()
}

// budget is how long a call may wait from now: MaxWait, within the
// deadline of ctx.
func (l *Limiter) budget(ctx context.Context, now time.Time) time.Duration {
	budget := l.s.MaxWait
	if budget > 0 {
		if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < budget {
			budget = max(0, dl.Sub(now))
		}
	}
	return budget
}

// Allow reports whether a call may happen now and, if so, takes its token.
// It never waits and calls no hook.
func (l *Limiter) Allow() bool {
	if l.paused.Load() != 0 && l.pauseLeft(time.Now()) > 0 {
		return false
	}
	return l.lim.AllowN(time.Now(), 1)
}

// AllowN is Allow for n tokens at once.
func (l *Limiter) AllowN(n int) bool {
	now := time.Now()
	if l.paused.Load() != 0 && l.pauseLeft(now) > 0 {
		return false
	}
	return l.lim.AllowN(now, n)
}

// Wait takes a token, waiting for it as Do does. It returns nil when the
// token was taken, a [*LimitedError], or ctx.Err().
func (l *Limiter) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN is Wait for n tokens at once. When n exceeds the burst (and the rate
// is not infinite) it fails at once with a permanent [*LimitedError] of
// ReasonTooCostly.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	p := l.paused.Load()
	now := time.Now()
	if p == 0 && l.lim.AllowN(now, n) {
		return nil
	}
	return l.slow(ctx, n, p == 0, now)
}

// Take takes cost tokens if they are there, without waiting, and reports
// the state of the bucket; key is ignored (it is there so that every
// limiter has the same Take). The error is always nil.
func (l *Limiter) Take(ctx context.Context, _ string, cost int) (Decision, error) {
	now := time.Now()
	lim := l.Quota()
	d := Decision{Quota: lim}
	switch {
	case cost > lim.Burst && lim.Rate != rate.Inf:
		d.Reason = ReasonTooCostly
	default:
		if p := l.pauseLeft(now); p > 0 {
			d.Reason, d.RetryAfter = ReasonPaused, p
			break
		}
		d.Allowed = l.lim.AllowN(now, cost)
	}
	switch {
	case lim.Rate == rate.Inf:
		d.Remaining = lim.Burst
	case d.Reason == ReasonPaused:
		d.Reset = durationOfTokens(lim.Rate, float64(lim.Burst)-l.lim.TokensAt(now))
	default:
		tokens := l.lim.TokensAt(now)
		d.Remaining = max(0, int(math.Floor(tokens)))
		d.Reset = durationOfTokens(lim.Rate, float64(lim.Burst)-tokens)
		if !d.Allowed && d.Reason == ReasonRate {
			d.RetryAfter = durationOfTokens(lim.Rate, float64(cost)-tokens)
		}
	}
	if lim.Rate == 0 {
		d.Reset = never
	}
	if !d.Allowed {
		l.s.limited(ctx, l.refusals.get("", d.Reason, admitAt(now, d.RetryAfter)), "", 0)
	}
	return d, nil
}

// Quota returns the current rate and burst.
func (l *Limiter) Quota() Quota {
	return Quota{Rate: l.lim.Limit(), Burst: l.lim.Burst(), Name: l.name}
}

// SetQuota changes the rate and the burst from now on (the name stays). It
// panics if the limit is invalid (see [Quota]).
func (l *Limiter) SetQuota(lim Quota) {
	lim.check("", "")
	now := time.Now()
	l.lim.SetLimitAt(now, lim.Rate)
	l.lim.SetBurstAt(now, lim.Burst)
}

// Name returns [Config.Name], the name of the limit ("" when unset; the
// RateLimit headers call it "default").
func (l *Limiter) Name() string { return l.name }

// Metrics returns the limiter's counters and state: the refusals by
// Reason, the tokens, the pause and the waiting calls (see [Metrics]; a
// Limiter does not count admitted calls).
func (l *Limiter) Metrics() Metrics {
	return Metrics{
		Refused: l.s.refused.snapshot(),
		Waiting: l.Waiting(),
		Tokens:  l.Tokens(),
		Paused:  l.Paused(),
	}
}

// Tokens returns how many tokens the bucket holds now (negative while
// waiting calls have reserved more than there is).
func (l *Limiter) Tokens() float64 { return l.lim.Tokens() }

// Waiting returns how many calls are waiting for tokens now.
func (l *Limiter) Waiting() int { return int(l.waiters.Load()) }

// Pause makes the limiter admit nothing for d (a longer pause already in
// force is kept). Do calls it by itself when a downstream answers 429 with
// a Retry-After, with a wait capped by [Config.MaxPause]; call it when you
// learn of a pause another way (d is then not capped).
func (l *Limiter) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	until := int64(satAdd(time.Since(l.epoch), d))
	for {
		p := l.paused.Load()
		if p >= until || l.paused.CompareAndSwap(p, until) {
			return
		}
	}
}

// Paused returns how long the pause in force lasts from now; 0 when the
// limiter is not paused.
func (l *Limiter) Paused() time.Duration { return l.pauseLeft(time.Now()) }

// pauseLeft returns how long the pause in force lasts from now, clearing an
// expired one.
func (l *Limiter) pauseLeft(now time.Time) time.Duration {
	p := l.paused.Load()
	if p == 0 {
		return 0
	}
	left := time.Duration(p) - now.Sub(l.epoch)
	if left <= 0 {
		l.paused.CompareAndSwap(p, 0)
		return 0
	}
	return left
}

// reject refuses a call decided at now that could be admitted after wait
// (0: not known), with the last refusal when it says the same; the call
// began to wait at start (now: it did not wait).
func (l *Limiter) reject(ctx context.Context, reason Reason, wait time.Duration, now, start time.Time) error {
	e := l.refusals.get("", reason, admitAt(now, wait))
	l.s.limited(ctx, e, "", now.Sub(start))
	return e
}

// slow is the path of a call that did not get its tokens at once, at now:
// the limiter is paused, or the bucket is short (tried: the caller already
// found it short).
func (l *Limiter) slow(ctx context.Context, n int, tried bool, now time.Time) error {
	start := now
	limit := l.lim.Limit()
	if limit != rate.Inf && n > l.lim.Burst() {
		return l.reject(ctx, ReasonTooCostly, 0, now, start)
	}
	budget := l.budget(ctx, now)
	slept := false // waited out a pause
	if p := l.pauseLeft(now); p > 0 {
		if p > budget {
			return l.reject(ctx, ReasonPaused, p, now, start)
		}
		if w := l.waiters.Add(1); w > l.s.MaxQueue {
			l.waiters.Add(-1)
			return l.reject(ctx, ReasonQueueFull, p, now, start)
		}
		err := sleepCtx(ctx, p)
		l.waiters.Add(-1)
		if err != nil {
			return err
		}
		budget -= p
		now = time.Now()
		tried = false
		slept = true
	}
	if l.s.MaxWait == 0 {
		if !tried && l.lim.AllowN(now, n) {
			if slept && l.s.observer != nil {
				l.s.waited(ctx, "", now.Sub(start))
			}
			return nil
		}
		return l.reject(ctx, ReasonRate, durationOfTokens(limit, float64(n)-l.lim.TokensAt(now)), now, start)
	}
	// A wait that is too long as the bucket stands is refused without a
	// reservation, so that refusing leaves the bucket alone (and computes
	// the moment of admission as the MaxWait 0 path does: refusals keep
	// sharing their error).
	if limit > 0 && limit != rate.Inf {
		if d := durationOfTokens(limit, float64(n)-l.lim.TokensAt(now)); d > budget {
			return l.reject(ctx, ReasonRate, d, now, start)
		}
	}
	// Reserve and, if the wait is too long, cancel under l.mu: no other
	// reservation can come between the two, so the cancellation gives the
	// tokens back whole. (rate.Reservation.CancelAt keeps the tokens that
	// later reservations depend on.)
	l.mu.Lock()
	r := l.lim.ReserveN(now, n)
	if !r.OK() { // the burst shrank meanwhile
		l.mu.Unlock()
		return l.reject(ctx, ReasonTooCostly, 0, now, start)
	}
	d := r.DelayFrom(now)
	if d == 0 {
		l.mu.Unlock()
		if slept && l.s.observer != nil {
			l.s.waited(ctx, "", now.Sub(start))
		}
		return nil
	}
	if d > budget {
		r.CancelAt(now)
		l.mu.Unlock()
		return l.reject(ctx, ReasonRate, d, now, start)
	}
	if w := l.waiters.Add(1); w > l.s.MaxQueue {
		l.waiters.Add(-1)
		r.CancelAt(now)
		l.mu.Unlock()
		return l.reject(ctx, ReasonQueueFull, d, now, start)
	}
	l.mu.Unlock()
	err := sleepCtx(ctx, d)
	l.waiters.Add(-1)
	if err != nil {
		r.Cancel()
		return err
	}
	if l.s.observer != nil {
		l.s.waited(ctx, "", time.Since(start))
	}
	return nil
}

func init() {
	// Package bandwidth spends the tokens of a Limiter as bytes.
	bytelimit.Of = func(l any) *rate.Limiter { return l.(*Limiter).lim }
}

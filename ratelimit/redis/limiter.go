package redis

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/keyed"
	"github.com/resiliencekit/resilience/internal/observe"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/internal/pause"
	"github.com/resiliencekit/resilience/ratelimit/internal/rules"
)

// FailMode is what a [Limiter] does while Redis cannot be reached.
type FailMode uint8

const (
	// FailOpen admits every call while Redis is unavailable: the limit
	// protects a resource, but never at the cost of availability. It is the
	// default.
	FailOpen FailMode = iota
	// FailClosed refuses every call while Redis is unavailable, with a
	// [*ratelimit.LimitedError] of ratelimit.ReasonUnavailable (a server answers 503
	// Service Unavailable with a Retry-After). For limits that must never be
	// exceeded, such as a paid quota.
	FailClosed
	// FailLocal decides with a local ratelimit.Group while Redis is
	// unavailable: each process enforces the limit by itself, so N
	// processes admit up to N times the limit in total until Redis is back.
	FailLocal
)

// String returns "open", "closed" or "local".
func (m FailMode) String() string {
	switch m {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return fmt.Sprintf("FailMode(%d)", uint8(m))
}

// DefaultRetryInterval is how long a [Limiter] leaves Redis alone after a
// failure, when Config.RetryInterval is 0.
const DefaultRetryInterval = time.Second

// Config holds the optional settings of a [Limiter]. The zero value is the
// default: keys prefixed "ratelimit:", fail open, retry Redis a second
// after a failure, and the defaults of ratelimit.GroupConfig. Its fields
// follow the rule of the whole module: zero means the default,
// resilience.None says "none" where the default is not none, and any other
// negative value panics at construction.
type Config struct {
	// GroupConfig holds the settings shared with ratelimit.Group, with
	// the same names, meanings and defaults: Config (MaxWait and MaxQueue
	// — waiting happens in this process; MaxQueue bounds its waiting calls
	// —, MaxPause, Cost, DryRun, Headers, Name, OnLimited, Observer: see
	// the package doc's "# Events" section), QuotaFor (the tiers) and Key
	// (how Do finds the key; resilience.KeyFrom by default). MaxKeys bounds what the process keeps by itself: the
	// local fallback and the pauses of rate.Inf keys. As in a Group, a key
	// longer than 128 bytes is kept, in Redis too, as "sha256:" and the
	// hex SHA-256 of it, so that no caller can store large keys in Redis.
	ratelimit.GroupConfig

	// Prefix is put before every key in Redis; "" means "ratelimit:".
	// Limiters that share a prefix and a key share a bucket, across
	// processes, whatever their limits: give different limits different
	// prefixes.
	Prefix string

	// OnFailure is what to do while Redis is unavailable; the default is
	// FailOpen.
	OnFailure FailMode

	// Local is the limiter FailLocal decides with; nil means a
	// ratelimit.Group made with the same limits and GroupConfig.
	Local *ratelimit.Group

	// RetryInterval is how long the limiter stops asking Redis after a
	// failed decision, deciding by OnFailure meanwhile, so that an outage
	// does not add a connection timeout to every call; the first call after
	// it tries Redis again, and the limiter recovers by itself when that
	// succeeds. 0 means DefaultRetryInterval; resilience.None asks Redis
	// again on every call. Other negative values panic.
	RetryInterval time.Duration

	// OnStateChange, if not nil, is called when Redis becomes unavailable
	// (available false, with the error) and when it is back (true, nil),
	// with the context of the call that found out (for a refund or a
	// pause after the call, that context without its cancellation). It is
	// called with no lock held and must be safe for concurrent use. The
	// Observer of the Config gets the same changes, after it, as
	// EventStateChange (see [Limiter]).
	OnStateChange func(ctx context.Context, available bool, err error)
}

// Limiter is a distributed rate limiter: one bucket per key, kept in Redis,
// shared by every process that uses the same Redis and prefix. It has the
// per-key API of ratelimit.Group, with the same names: it is a
// resilience.Policy (Do finds the key in the context), so under
// resilience.Handler it limits each client and writes the RateLimit
// headers, and has DoKey, Wait, WaitN, Take, Pause and QuotaFor for
// explicit keys, Name, and Metrics for its counters (a Group's Totals). It
// has no Len, Metrics(key) or Range: the buckets live in Redis, where
// listing them would be a scan of the server's keys.
//
// Each decision is one round trip running a Lua script that implements the
// generic cell rate algorithm (GCRA) on the clock of the Redis server, so
// clock skew between clients does not matter, and each bucket is one key
// that expires when the bucket is full again. A call that may wait (MaxWait)
// has its tokens reserved in the same round trip and waits in its process;
// if its context ends first, a second script gives the tokens back.
//
// While Redis is unavailable the limiter decides by [Config.OnFailure] and
// asks Redis again every [Config.RetryInterval]; it recovers by itself.
// Under FailClosed its refusals are ratelimit.LimitedError values of Reason
// Unavailable: local rejections (resilience.IsLocalRejection), answered 503
// with Retry-After by resilience.Handler.
//
// A limit of rate.Inf admits everything without asking Redis; a pause of
// such a key (after a downstream's 429) is kept in this process only, as
// there is no bucket in Redis to carry it. A rate of 0 is refused at
// construction: its bucket would never refill, so its key would have to
// stay in Redis for ever.
//
// With an Observer in its Config, a Limiter reports its refusals, waits
// and the outages of Redis as resilience.Events (see the package doc's
// "# Events" section).
//
// A Limiter is safe for concurrent use. Make it with [New]; the zero value
// is not usable.
type Limiter struct {
	client        goredis.Scripter
	def           ratelimit.Quota
	limitFor      func(string) (ratelimit.Quota, bool)
	keyOf         func(context.Context) string
	prefix        string
	waits         rules.Waits
	cost          func(context.Context) int
	dryRun        bool
	headers       ratelimit.HeaderMode
	onLimited     func(context.Context, *ratelimit.LimitedError)
	mode          FailMode
	local         *ratelimit.Group
	pauses        *ratelimit.Group // the pauses of rate.Inf keys
	retry         time.Duration
	onStateChange func(context.Context, bool, error)
	observer      resilience.Observer
	epoch         time.Time
	downUntil     atomic.Int64 // nanoseconds since epoch until which Redis is not asked; 0: available
	waiters       atomic.Int64
	admitted      atomic.Uint64
	outages       atomic.Uint64
	refused       [ratelimit.ReasonUnavailable + 1]atomic.Uint64
}

// New returns a Limiter that keeps its buckets in Redis through client (a
// *redis.Client, *redis.ClusterClient, *redis.Ring or anything else that
// runs scripts). The default limit is r calls per second (a rate.Limit)
// with bursts of burst, for every key that Config.QuotaFor does not place
// in a tier. New panics if client is nil,
// the limit is invalid (a negative, NaN, +Inf or zero r, a burst below 1
// unless r is rate.Inf) or the configuration is. A tier that QuotaFor
// returns must obey the same rules, or the call that gets it panics.
func New(client goredis.Scripter, r rate.Limit, burst int, c Config) *Limiter {
	if client == nil {
		panic("ratelimit/redis: nil client")
	}
	rules.CheckLimit(pkg, float64(r), burst, false, "", "")
	waits := rules.ResolveWaits(pkg, c.Config.MaxWait, c.Config.MaxQueue, c.Config.MaxPause)
	switch {
	case c.MaxKeys < 0:
		panic(fmt.Sprintf("ratelimit/redis: negative MaxKeys %d", c.MaxKeys))
	case c.OnFailure > FailLocal:
		panic(fmt.Sprintf("ratelimit/redis: unknown %v", c.OnFailure))
	case c.Config.Headers > ratelimit.NoHeaders:
		panic(fmt.Sprintf("ratelimit/redis: unknown HeaderMode %d", c.Config.Headers))
	case c.RetryInterval == resilience.None:
		c.RetryInterval = 0
	case c.RetryInterval < 0:
		panic(fmt.Sprintf("ratelimit/redis: negative RetryInterval %v", c.RetryInterval))
	case c.RetryInterval == 0:
		c.RetryInterval = DefaultRetryInterval
	}
	observe.Check(pkg, c.Config.Observer)
	if c.Prefix == "" {
		c.Prefix = "ratelimit:"
	}
	if c.Key == nil {
		c.Key = resilience.KeyFrom
	}
	l := &Limiter{
		client:        client,
		def:           ratelimit.Quota{Rate: r, Burst: burst, Name: c.Config.Name},
		limitFor:      c.QuotaFor,
		keyOf:         c.Key,
		prefix:        c.Prefix,
		waits:         waits,
		cost:          c.Config.Cost,
		dryRun:        c.Config.DryRun,
		headers:       c.Config.Headers,
		onLimited:     c.Config.OnLimited,
		mode:          c.OnFailure,
		local:         c.Local,
		pauses:        ratelimit.NewGroup(rate.Inf, 1, ratelimit.GroupConfig{MaxKeys: c.MaxKeys}),
		retry:         c.RetryInterval,
		onStateChange: c.OnStateChange,
		observer:      c.Config.Observer,
		epoch:         time.Now(),
	}
	if l.mode == FailLocal && l.local == nil {
		gc := c.GroupConfig
		gc.Config.OnLimited = nil // the Limiter reports its rejections itself
		gc.Config.DryRun, gc.Config.Cost = false, nil
		if o := gc.Config.Observer; o != nil {
			// The fallback's waits are the Limiter's; its refusals the
			// Limiter reports itself.
			gc.Config.Observer = resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
				if e.Kind == resilience.EventWait {
					o.Observe(ctx, e)
				}
			})
		}
		l.local = ratelimit.NewGroup(r, burst, gc)
	}
	return l
}

const pkg = "ratelimit/redis"

// redisKey is the Redis key of the bucket of key: the prefix, and key
// bounded as a Group bounds it (keyed.Bound).
func (l *Limiter) redisKey(key string) string { return l.prefix + keyed.Bound(key) }

// QuotaFor returns the limit that applies to key: its tier, or the
// default. It panics if QuotaFor returns an invalid limit (see [New]).
func (l *Limiter) QuotaFor(key string) ratelimit.Quota {
	if l.limitFor != nil {
		if lim, ok := l.limitFor(key); ok {
			rules.CheckLimit(pkg, float64(lim.Rate), lim.Burst, false, "QuotaFor", key)
			return lim
		}
	}
	return l.def
}

// Name returns the Name of the Config, the name of the default limit (""
// when unset; the RateLimit headers call it "default").
func (l *Limiter) Name() string { return l.def.Name }

// Metrics is a snapshot of the counters and the state of a [Limiter], for
// telemetry. Counters count from the making of the limiter, in this
// process.
type Metrics struct {
	// Admitted counts the calls admitted (by Do, DoKey, Wait, WaitN and
	// Take; in dry-run, the calls Do would have admitted), the decisions
	// made while Redis was unavailable included.
	Admitted uint64
	// Refused counts the refusals reported to OnLimited, indexed by their
	// Reason (Refused[ratelimit.ReasonUnavailable]: refused by FailClosed
	// while Redis was unavailable).
	Refused [ratelimit.ReasonUnavailable + 1]uint64
	// Waiting is how many calls of this process wait for their tokens now.
	Waiting int
	// Available is what [Limiter.Available] reports.
	Available bool
	// Outages counts the times Redis became unavailable.
	Outages uint64
}

// Metrics returns the limiter's counters and state (see [Metrics]).
func (l *Limiter) Metrics() Metrics {
	m := Metrics{
		Admitted:  l.admitted.Load(),
		Waiting:   l.Waiting(),
		Available: l.Available(),
		Outages:   l.outages.Load(),
	}
	for i := range l.refused {
		m.Refused[i] = l.refused[i].Load()
	}
	return m
}

// Available reports whether the limiter asks Redis now: false after a
// failure, until a retry succeeds.
func (l *Limiter) Available() bool { return l.downUntil.Load() == 0 }

// Waiting returns how many calls of this process are waiting for tokens.
func (l *Limiter) Waiting() int { return int(l.waiters.Load()) }

// Do runs op under the bucket of the key found in ctx (see
// ratelimit.GroupConfig.Key), as ratelimit.Group.Do does, with the same
// Cost, DryRun and RateLimit headers (under resilience.Handler). It keeps
// the resilience.Policy contract.
func (l *Limiter) Do(ctx context.Context, op func(context.Context) error) error {
	return l.DoKey(ctx, l.keyOf(ctx), op)
}

// DoKey is Do with an explicit key. When op fails with a 429 that carries
// a wait (a Retry-After, or a RateLimit header with nothing left), the key is paused in Redis, for every
// process, for at most MaxPause.
func (l *Limiter) DoKey(ctx context.Context, key string, op func(context.Context) error) error {
	n := 1
	if l.cost != nil {
		n = max(0, l.cost(ctx))
	}
	lim := l.QuotaFor(key)
	if l.dryRun {
		switch d, err := l.take(ctx, key, lim, n, l.budget(ctx), false); {
		case err == nil && d.Allowed:
			l.admitted.Add(1)
		case err == nil:
			l.reject(ctx, key, d.Reason, d.RetryAfter)
		}
		return l.run(ctx, key, op)
	}
	d, err := l.wait(ctx, key, lim, n)
	if l.headers != ratelimit.NoHeaders && (err == nil || !d.Allowed) {
		if h := resilience.ResponseHeader(ctx); h != nil {
			d.SetHeaders(h, l.headers)
		}
	}
	if err != nil {
		return err
	}
	return l.run(ctx, key, op)
}

func (l *Limiter) run(ctx context.Context, key string, op func(context.Context) error) error {
	err := op(ctx)
	if err != nil && l.waits.MaxPause > 0 {
		if d, ok := pause.FromError(err); ok {
			l.Pause(context.WithoutCancel(ctx), key, min(d, l.waits.MaxPause))
		}
	}
	return err
}

// Wait takes a token for key, waiting for it up to MaxWait. It returns nil
// when the token was taken, a [*ratelimit.LimitedError], or ctx.Err().
func (l *Limiter) Wait(ctx context.Context, key string) error { return l.WaitN(ctx, key, 1) }

// WaitN is Wait for n tokens at once.
func (l *Limiter) WaitN(ctx context.Context, key string, n int) error {
	_, err := l.wait(ctx, key, l.QuotaFor(key), n)
	return err
}

// budget is how long a call may wait: MaxWait, within the deadline of ctx.
func (l *Limiter) budget(ctx context.Context) time.Duration {
	budget := l.waits.MaxWait
	if budget > 0 {
		if dl, ok := ctx.Deadline(); ok {
			budget = min(budget, max(0, time.Until(dl)))
		}
	}
	return budget
}

// wait takes n tokens for key, waiting for them within the budget. The
// Decision describes the bucket (Allowed false with a *LimitedError for a
// refusal); the error is also ctx's when it ended first.
func (l *Limiter) wait(ctx context.Context, key string, lim ratelimit.Quota, n int) (ratelimit.Decision, error) {
	d, err := l.take(ctx, key, lim, n, l.budget(ctx), true)
	if err != nil {
		return d, err
	}
	if !d.Allowed {
		return d, l.reject(ctx, key, d.Reason, d.RetryAfter)
	}
	wait := d.RetryAfter // of an admitted take: the wait
	d.RetryAfter = 0
	if wait == 0 {
		l.admitted.Add(1)
		return d, nil
	}
	if w := l.waiters.Add(1); w > l.waits.MaxQueue {
		l.waiters.Add(-1)
		l.refund(ctx, key, lim, n)
		d.Allowed, d.Reason, d.RetryAfter = false, ratelimit.ReasonQueueFull, wait
		return d, l.reject(ctx, key, ratelimit.ReasonQueueFull, wait)
	}
	var start time.Time
	if l.observer != nil {
		start = time.Now()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		l.waiters.Add(-1)
		l.refund(ctx, key, lim, n)
		return d, ctx.Err()
	case <-t.C:
		l.waiters.Add(-1)
		d.Reset = max(0, d.Reset-wait)
		l.admitted.Add(1)
		if l.observer != nil {
			l.observer.Observe(ctx, resilience.Event{
				Kind: resilience.EventWait, Policy: "ratelimit", Name: l.def.Name, Key: keyed.Bound(key),
				Duration: time.Since(start),
			})
		}
		return d, nil
	}
}

// Take takes cost tokens from the bucket of key if they are there, without
// waiting, and reports the state of the bucket. While Redis is unavailable
// it decides by OnFailure: FailOpen admits with Remaining -1 (no bucket
// state, so no RateLimit header is written), FailClosed returns a
// [*ratelimit.LimitedError] of ratelimit.ReasonUnavailable, FailLocal decides
// locally. It also returns ctx's error when ctx ends first.
func (l *Limiter) Take(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
	d, err := l.take(ctx, key, l.QuotaFor(key), cost, 0, false)
	switch {
	case err == nil && d.Allowed:
		l.admitted.Add(1)
	case err == nil:
		l.limited(ctx, key, ratelimit.NewLimitedError(key, d.Reason, d.RetryAfter, nil))
	}
	return d, err
}

// Pause makes the bucket of key admit nothing for d, in every process (a
// longer pause already in force is kept); afterwards it holds one token.
// DoKey calls it by itself when a downstream answers 429 with a
// Retry-After, with a wait capped by MaxPause. While Redis is unavailable
// it pauses the local fallback, if any. A key whose limit is rate.Inf has
// no bucket in Redis: its pause is kept in this process.
func (l *Limiter) Pause(ctx context.Context, key string, d time.Duration) {
	if d <= 0 {
		return
	}
	lim := l.QuotaFor(key)
	p, ok := params(lim)
	if !ok {
		l.pauses.Pause(key, d)
		return
	}
	if l.local != nil {
		l.local.Pause(key, d)
	}
	if l.down() {
		return
	}
	err := pauseScript.Run(ctx, l.client, []string{l.redisKey(key)}, p.interval, lim.Burst, d.Microseconds()).Err()
	if err != nil && ctx.Err() == nil {
		l.markDown(ctx, err)
	}
}

// gcraParams is a limit in the script's units. ok is false for the limits
// decided without Redis: infinite (a rate above a million per second, a
// token per microsecond, is as good as infinite).
type gcraParams struct {
	interval float64 // microseconds per token
	inf      bool
}

func params(lim ratelimit.Quota) (gcraParams, bool) {
	if lim.Rate == rate.Inf || float64(lim.Rate) > 1e6 {
		return gcraParams{inf: true}, false
	}
	return gcraParams{interval: 1e6 / float64(lim.Rate)}, true
}

// take decides for n tokens of key, reserving them when the wait fits in
// maxWait. For an admitted call, the Decision's RetryAfter is the wait.
// wait tells whether the local fallback may wait (WaitN) or must not (Take).
func (l *Limiter) take(ctx context.Context, key string, lim ratelimit.Quota, n int, maxWait time.Duration, wait bool) (ratelimit.Decision, error) {
	d := ratelimit.Decision{Quota: lim}
	p, ok := params(lim)
	switch {
	case !ok: // rate.Inf: admitted, unless paused
		d.Allowed, d.Remaining = true, lim.Burst
		if left := l.pauses.Paused(key); left > 0 {
			if left > maxWait {
				d.Allowed, d.Reason, d.RetryAfter = false, ratelimit.ReasonPaused, left
			} else {
				d.RetryAfter = left // the wait of an admitted call
			}
		}
		return d, nil
	case n > lim.Burst:
		d.Reason, d.Remaining = ratelimit.ReasonTooCostly, -1
		return d, nil
	case n <= 0:
		n = 0
	}
	if l.down() {
		return l.fallback(ctx, key, n, wait, nil)
	}
	res, err := takeScript.Run(ctx, l.client, []string{l.redisKey(key)}, p.interval, lim.Burst, n, maxWait.Microseconds()).Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("ratelimit/redis: unexpected script reply %v", res)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return d, cerr
		}
		l.markDown(ctx, err)
		return l.fallback(ctx, key, n, wait, err)
	}
	l.markUp(ctx)
	d.Allowed = res[0] == 1
	d.Remaining = int(res[1])
	d.RetryAfter = time.Duration(res[2]) * time.Microsecond
	d.Reset = time.Duration(res[3]) * time.Microsecond
	return d, nil
}

// errUnavailable is the cause given while the limiter waits to retry Redis
// after a failure.
var errUnavailable = errors.New("ratelimit/redis: Redis unavailable, retrying later")

// fallback decides while Redis is unavailable.
func (l *Limiter) fallback(ctx context.Context, key string, n int, wait bool, cause error) (ratelimit.Decision, error) {
	if cause == nil {
		cause = errUnavailable
	}
	switch l.mode {
	case FailClosed:
		wait := l.retryLeft()
		e := ratelimit.NewLimitedError(key, ratelimit.ReasonUnavailable, wait, cause)
		l.limited(ctx, key, e)
		return ratelimit.Decision{Reason: ratelimit.ReasonUnavailable, RetryAfter: wait, Remaining: -1}, e
	case FailLocal:
		if wait {
			if err := l.local.WaitN(ctx, key, n); err != nil {
				var le *ratelimit.LimitedError
				if errors.As(err, &le) {
					return ratelimit.Decision{Reason: le.Reason(), RetryAfter: le.RetryAfter(), Remaining: -1}, nil
				}
				return ratelimit.Decision{Remaining: -1}, err
			}
			return ratelimit.Decision{Allowed: true, Remaining: -1}, nil
		}
		return l.local.Take(ctx, key, n)
	}
	return ratelimit.Decision{Allowed: true, Remaining: -1}, nil
}

// refund gives back reserved tokens, best effort.
func (l *Limiter) refund(ctx context.Context, key string, lim ratelimit.Quota, n int) {
	p, ok := params(lim)
	if !ok || l.down() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := refundScript.Run(ctx, l.client, []string{l.redisKey(key)}, p.interval, n).Err(); err != nil {
		l.markDown(ctx, err)
	}
}

func (l *Limiter) now() int64 { return int64(time.Since(l.epoch)) }

// down reports whether Redis is to be left alone now.
func (l *Limiter) down() bool {
	u := l.downUntil.Load()
	return u != 0 && l.now() < u
}

func (l *Limiter) retryLeft() time.Duration {
	if u := l.downUntil.Load(); u != 0 {
		return max(0, time.Duration(u-l.now()))
	}
	return l.retry
}

func (l *Limiter) markDown(ctx context.Context, err error) {
	until := l.now() + int64(l.retry)
	if was := l.downUntil.Swap(until); was == 0 {
		l.outages.Add(1)
		if l.onStateChange != nil {
			l.onStateChange(ctx, false, err)
		}
		l.stateChanged(ctx, "available", "unavailable", err)
	}
}

func (l *Limiter) markUp(ctx context.Context) {
	if u := l.downUntil.Load(); u != 0 && l.downUntil.CompareAndSwap(u, 0) {
		if l.onStateChange != nil {
			l.onStateChange(ctx, true, nil)
		}
		l.stateChanged(ctx, "unavailable", "available", nil)
	}
}

// stateChanged reports a change of the availability of Redis to the
// Observer.
func (l *Limiter) stateChanged(ctx context.Context, from, to string, err error) {
	if l.observer != nil {
		l.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventStateChange, Policy: "ratelimit", Name: l.def.Name,
			From: from, To: to, Err: err,
		})
	}
}

func (l *Limiter) reject(ctx context.Context, key string, reason ratelimit.Reason, wait time.Duration) error {
	e := ratelimit.NewLimitedError(key, reason, wait, nil)
	l.limited(ctx, key, e)
	return e
}

// limited counts the refusal e of a call of key and reports it to
// OnLimited and the Observer.
func (l *Limiter) limited(ctx context.Context, key string, e *ratelimit.LimitedError) {
	if r := e.Reason(); int(r) < len(l.refused) {
		l.refused[r].Add(1)
	}
	if l.onLimited != nil {
		l.onLimited(ctx, e)
	}
	if l.observer != nil {
		l.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventReject, Policy: "ratelimit", Name: l.def.Name, Key: keyed.Bound(key),
			Reason: rules.EventReason(uint8(e.Reason())), Err: e,
		})
	}
}

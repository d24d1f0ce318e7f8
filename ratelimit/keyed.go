package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit/internal/pause"
)

// DefaultMaxKeys is the number of keys a [Keyed] limiter remembers at most
// when [KeyedConfig.MaxKeys] is 0: 2^20, some tens of megabytes. It is
// larger than the DefaultMaxKeys of the breaker and bulkhead groups
// because a key costs far less here (one 8-byte number beside the key)
// and because a rate limit that forgets a key gives that client a full
// bucket: the bound must exceed the number of clients a server sees within
// a refill period.
const DefaultMaxKeys = 1 << 20

// KeyedConfig holds the optional settings of a [Keyed] limiter. The zero
// value is the default.
type KeyedConfig struct {
	// Config holds the settings shared with [Limiter]: MaxWait, MaxQueue
	// (a bound on waiting calls across all keys), MaxPause, Cost, DryRun,
	// Headers, Name and OnLimited.
	Config

	// QuotaFor, if not nil, gives the limit of a key: the tier of a
	// customer or an API key. It returns false to apply the default limit
	// given to NewKeyed. It is called on every decision, with no lock held,
	// so a change of tier takes effect at once; it must be safe for
	// concurrent use and fast (a map lookup, not a database query). The
	// limit it returns must be valid (see [Quota]: Burst at least 1 unless
	// Rate is rate.Inf); an invalid one is a programming error and panics
	// in the call that got it, with a "ratelimit: QuotaFor" message.
	QuotaFor func(key string) (Quota, bool)

	// MaxKeys bounds how many keys are remembered at once, so that a
	// caller who sends endless distinct keys cannot exhaust memory; 0 means
	// [DefaultMaxKeys]. Keys whose bucket has filled up again are forgotten
	// first, which changes nothing (a forgotten key starts with a full
	// bucket). Only when MaxKeys keys all have partly empty buckets are the
	// keys closest to full forgotten, giving them a full bucket early. The
	// pauses that a downstream's 429 starts are kept beside the buckets,
	// bounded by MaxKeys as well. Negative values panic.
	MaxKeys int

	// Key returns the key of a call of Do; nil means resilience.KeyFrom:
	// the key set by resilience.WithKey, which resilience.Handler sets to
	// the client's address (or what its HandlerConfig.Key says) and
	// resilience.Transport to the request's host.
	Key func(ctx context.Context) string
}

// Keyed is a rate limiter with one bucket per key: per client address,
// customer or API key under resilience.Handler, or per downstream host
// inside resilience.Transport. Tiers get different limits through
// [KeyedConfig.QuotaFor]. It is a resilience.Policy whose Do finds the key
// in the context; the methods that take a key explicitly (DoKey, Allow,
// Wait, Take) serve other callers.
//
// Each bucket is the generic cell rate algorithm (GCRA), which admits
// exactly what a token bucket of the same rate and burst admits (a rate of
// 0 included: Burst tokens in all, as rate.Limiter) but whose state is one
// 8-byte number, so a million live keys take some tens of megabytes.
// Memory stays bounded without a background goroutine: keys whose bucket
// is full again are dropped while new keys are added, and
// [KeyedConfig.MaxKeys] caps the total.
//
// When the operation fails with 429 Too Many Requests and a Retry-After
// (see [Config.MaxPause]), the key is paused: nothing is admitted for it
// until then, under any limit (rate.Inf included), and a refilling bucket
// starts again with one token.
//
// A Keyed limiter is safe for concurrent use. Deciding for a known key
// allocates nothing. It must be made with [NewKeyed]; the zero value is not
// usable.
type Keyed struct {
	def      Quota
	defG     gcra
	limitFor func(string) (Quota, bool)
	keyOf    func(context.Context) string
	s        settings
	epoch    time.Time
	seed     maphash.Seed
	shards   []shard
	mask     uint64
	shardCap int
	waiters  atomic.Int64
	pauses   atomic.Int64  // entries in the shards' pause maps; 0 lets the rate.Inf path skip them
	waited   atomic.Uint64 // calls admitted after a wait
}

// shard is one part of the key space with its own lock.
type shard struct {
	mu       sync.Mutex
	m        map[string]int64 // key → TAT, nanoseconds since epoch
	pauses   map[string]int64 // key → end of its pause, nanoseconds since epoch; nil until one
	sweepAt  int              // size at which the next insertion sweeps
	peak     int              // largest size since the map was last rebuilt
	admitted uint64           // calls admitted at once (finite quotas), under mu
	_        [16]byte         // keep shards on separate cache lines
}

const minSweep = 64

// NewKeyed returns a Keyed limiter whose default limit is r calls per
// second with bursts of burst (as for [New]; r is a rate.Limit, calls per
// second), for every key that [KeyedConfig.QuotaFor] does not place in a
// tier. NewKeyed panics if the limit
// is invalid (see [Quota]: a negative, NaN or +Inf r, a burst below 1
// unless r is rate.Inf) or the configuration is.
func NewKeyed(r rate.Limit, burst int, c KeyedConfig) *Keyed {
	s := c.resolve()
	def := Quota{Rate: r, Burst: burst, Name: c.Name}
	def.check("", "")
	if c.MaxKeys < 0 {
		panic(fmt.Sprintf("ratelimit: negative MaxKeys %d", c.MaxKeys))
	}
	maxKeys := c.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	n := 1
	for n < 64 && n*2*minSweep <= maxKeys {
		n *= 2
	}
	k := &Keyed{
		def:      def,
		defG:     newGCRA(def),
		limitFor: c.QuotaFor,
		keyOf:    c.Key,
		s:        s,
		epoch:    time.Now(),
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		shardCap: maxKeys / n, // at most MaxKeys in all
	}
	if k.keyOf == nil {
		k.keyOf = resilience.KeyFrom
	}
	for i := range k.shards {
		k.shards[i].m = make(map[string]int64)
		k.shards[i].sweepAt = min(minSweep, k.shardCap)
	}
	return k
}

// QuotaFor returns the limit that applies to key: its tier, or the
// default.
func (k *Keyed) QuotaFor(key string) Quota {
	l, _ := k.limit(key)
	return l
}

func (k *Keyed) limit(key string) (Quota, gcra) {
	if k.limitFor != nil {
		if l, ok := k.limitFor(key); ok {
			l.check("QuotaFor", key)
			return l, newGCRA(l)
		}
	}
	return k.def, k.defG
}

// Do runs op under the bucket of the key found in ctx (see
// [KeyedConfig.Key]), as [Limiter.Do] does under its single bucket: at
// once, after a wait of at most MaxWait, or not at all with a
// [*LimitedError]. Under resilience.Handler it writes the RateLimit headers
// of the key's bucket. It keeps the resilience.Policy contract.
func (k *Keyed) Do(ctx context.Context, op func(context.Context) error) error {
	return k.DoKey(ctx, k.keyOf(ctx), op)
}

// DoKey is Do with an explicit key.
func (k *Keyed) DoKey(ctx context.Context, key string, op func(context.Context) error) error {
	n := k.s.costOf(ctx)
	var h http.Header
	if k.s.headers != NoHeaders && !k.s.dryRun {
		h = resilience.ResponseHeader(ctx)
	}
	switch {
	case k.s.dryRun:
		_, g := k.limit(key)
		if r := k.take(key, g, n, k.budget(ctx)); !r.ok {
			k.reject(ctx, key, r.reason, r.wait)
		}
	case h == nil: // the common path, on the client side
		_, g := k.limit(key)
		if err := k.wait(ctx, key, g, n, nil); err != nil {
			return err
		}
	default:
		l, g := k.limit(key)
		var r gcraResult
		err := k.wait(ctx, key, g, n, &r)
		if err == nil || !r.ok { // a decision, not the end of ctx
			d := Decision{Allowed: r.ok, Quota: l, Remaining: int(r.remaining), Reset: r.reset, Reason: r.reason}
			if !r.ok {
				d.RetryAfter = r.wait
			}
			d.SetHeaders(h, k.s.headers)
		}
		if err != nil {
			return err
		}
	}
	return k.run(ctx, key, op)
}

func (k *Keyed) run(ctx context.Context, key string, op func(context.Context) error) error {
	err := op(ctx)
	if err != nil && k.s.MaxPause > 0 {
		if d, ok := pause.FromError(err); ok {
			k.Pause(key, min(d, k.s.MaxPause))
		}
	}
	return err
}

// Allow reports whether a call for key may happen now and, if so, takes
// its token. It never waits and calls no hook.
func (k *Keyed) Allow(key string) bool { return k.AllowN(key, 1) }

// AllowN is Allow for n tokens at once.
func (k *Keyed) AllowN(key string, n int) bool {
	_, g := k.limit(key)
	return k.take(key, g, n, 0).ok
}

// Wait takes a token for key, waiting for it as Do does. It returns nil
// when the token was taken, a [*LimitedError], or ctx.Err().
func (k *Keyed) Wait(ctx context.Context, key string) error { return k.WaitN(ctx, key, 1) }

// WaitN is Wait for n tokens at once.
func (k *Keyed) WaitN(ctx context.Context, key string, n int) error {
	_, g := k.limit(key)
	return k.wait(ctx, key, g, n, nil)
}

// budget is how long a call may wait: MaxWait, within the deadline of ctx.
func (k *Keyed) budget(ctx context.Context) time.Duration {
	budget := k.s.MaxWait
	if budget > 0 {
		if dl, ok := ctx.Deadline(); ok {
			budget = min(budget, max(0, time.Until(dl)))
		}
		budget = min(budget, maxReserve)
	}
	return budget
}

// wait takes n tokens for key, waiting for them within the budget. It
// returns nil, a *LimitedError or ctx's error; out, if not nil, receives
// the decision (refused, !ok, for a *LimitedError).
func (k *Keyed) wait(ctx context.Context, key string, g gcra, n int, out *gcraResult) error {
	r := k.take(key, g, n, k.budget(ctx))
	var err error
	if !r.ok || r.wait != 0 {
		err = k.settle(ctx, key, g, n, &r)
	}
	if out != nil {
		*out = r
	}
	return err
}

// settle completes a take that was refused or must wait: it reports the
// refusal, or waits for the reserved tokens (giving them back when ctx
// ends or the queue is full).
func (k *Keyed) settle(ctx context.Context, key string, g gcra, n int, r *gcraResult) error {
	if !r.ok {
		return k.reject(ctx, key, r.reason, r.wait)
	}
	if w := k.waiters.Add(1); w > k.s.MaxQueue {
		k.waiters.Add(-1)
		k.refund(key, g, n)
		r.ok, r.reason = false, ReasonQueueFull
		return k.reject(ctx, key, ReasonQueueFull, r.wait)
	}
	err := sleepCtx(ctx, r.wait)
	k.waiters.Add(-1)
	if err != nil {
		k.refund(key, g, n)
		return err
	}
	if r.reset != never {
		r.reset = max(0, r.reset-r.wait)
	}
	k.waited.Add(1)
	return nil
}

// Take takes cost tokens from the bucket of key if they are there, without
// waiting, and reports the state of the bucket. The error is always nil.
func (k *Keyed) Take(ctx context.Context, key string, cost int) (Decision, error) {
	l, g := k.limit(key)
	r := k.take(key, g, cost, 0)
	d := Decision{Allowed: r.ok, Quota: l, Remaining: int(r.remaining), Reset: r.reset}
	if !r.ok {
		d.Reason, d.RetryAfter = r.reason, r.wait
		k.s.limited(ctx, &LimitedError{Key: key, Reason: d.Reason, Wait: d.RetryAfter})
	}
	return d, nil
}

// Pause makes the limiter admit nothing for key during d (a longer pause
// already in force is kept), under any limit of the key; afterwards a
// refilling bucket starts with one token. DoKey calls it by itself when a
// downstream answers 429 with a Retry-After, with a wait capped by
// [Config.MaxPause]; call it when you learn of a pause another way (d is
// then not capped). Calls refused during the pause report ReasonPaused.
func (k *Keyed) Pause(key string, d time.Duration) {
	if d <= 0 {
		return
	}
	_, g := k.limit(key)
	now := k.now()
	until := now + int64(min(d, maxReserve))
	s := k.shard(key)
	s.mu.Lock()
	if !g.inf && !g.norefill {
		// The bucket itself holds the pause: it is full again one token
		// after the pause ends.
		tatUntil := until + g.tolerance - g.interval
		tat, ok := s.m[key]
		if tatUntil > tat {
			if !ok {
				key = k.admit(s, key)
			}
			s.m[key] = tatUntil
		}
	}
	k.setPause(s, key, until, now)
	s.mu.Unlock()
}

// Paused returns how long the pause of key lasts from now; 0 when key is
// not paused.
func (k *Keyed) Paused(key string) time.Duration {
	if k.pauses.Load() == 0 {
		return 0
	}
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	until := k.pausedUntil(s, key, now)
	s.mu.Unlock()
	if until == 0 {
		return 0
	}
	return time.Duration(until - now)
}

// setPause records the end of the pause of key. s.mu is held.
func (k *Keyed) setPause(s *shard, key string, until, now int64) {
	if old, ok := s.pauses[key]; ok {
		s.pauses[key] = max(old, until)
		return
	}
	if len(s.pauses) >= k.shardCap {
		k.sweepPauses(s, now)
		if len(s.pauses) >= k.shardCap {
			return // bounded; a refilling bucket still holds the pause in its TAT
		}
	}
	if s.pauses == nil {
		s.pauses = make(map[string]int64)
	}
	s.pauses[strings.Clone(key)] = until
	k.pauses.Add(1)
}

// pausedUntil returns the end of the pause of key, or 0 when there is none
// in force (forgetting an expired one). s.mu is held.
func (k *Keyed) pausedUntil(s *shard, key string, now int64) int64 {
	until, ok := s.pauses[key]
	switch {
	case !ok:
		return 0
	case until <= now:
		delete(s.pauses, key)
		k.pauses.Add(-1)
		return 0
	}
	return until
}

// sweepPauses forgets the pauses that ended. s.mu is held.
func (k *Keyed) sweepPauses(s *shard, now int64) {
	for key, until := range s.pauses {
		if until <= now {
			delete(s.pauses, key)
			k.pauses.Add(-1)
		}
	}
}

// Len returns how many keys the limiter remembers now (keys with a full
// bucket may still be counted until a sweep drops them).
func (k *Keyed) Len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Waiting returns how many calls are waiting for tokens now.
func (k *Keyed) Waiting() int { return int(k.waiters.Load()) }

// Name returns [Config.Name], the name of the default limit ("" when
// unset; the RateLimit headers call it "default").
func (k *Keyed) Name() string { return k.def.Name }

// Metrics returns the limiter's counters and state: the calls admitted
// (under finite quotas), the refusals by Reason, the keys, the pauses and
// the waiting calls (see [Metrics]). It takes the lock of each shard in
// turn, as [Keyed.Len] does.
func (k *Keyed) Metrics() Metrics {
	m := Metrics{Refused: k.s.refused.snapshot(), Admitted: k.waited.Load()}
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		m.Keys += len(s.m)
		m.Admitted += s.admitted
		s.mu.Unlock()
	}
	m.Pauses = int(k.pauses.Load())
	m.Waiting = k.Waiting()
	return m
}

func (k *Keyed) now() int64 { return int64(time.Since(k.epoch)) }

func (k *Keyed) shard(key string) *shard {
	return &k.shards[maphash.String(k.seed, key)&k.mask]
}

// take decides for n tokens of key, reserving them when the wait fits
// maxWait. A refused result carries its Reason.
func (k *Keyed) take(key string, g gcra, n int, maxWait time.Duration) gcraResult {
	n = max(n, 0)
	if g.inf {
		if k.pauses.Load() != 0 {
			if left := k.Paused(key); left > 0 {
				if left > maxWait {
					return gcraResult{reason: ReasonPaused, wait: left}
				}
				return gcraResult{ok: true, wait: left, remaining: g.burst}
			}
		}
		return gcraResult{ok: true, remaining: g.burst}
	}
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	tat, found := s.m[key]
	var r gcraResult
	switch {
	case int64(n) > g.burst:
		r.remaining, r.reset = g.state(tat, now)
		r.reason = ReasonTooCostly
	case g.norefill:
		r = g.takeNoRefill(tat, int64(n))
		if r.ok && len(s.pauses) != 0 {
			if until := k.pausedUntil(s, key, now); until != 0 {
				if wait := time.Duration(until - now); wait > maxWait {
					r = gcraResult{reason: ReasonPaused, wait: wait, reset: never}
				} else {
					r.wait = wait
				}
			}
		}
	default:
		// A refilling bucket holds its pause in its TAT: the pause map
		// only names the reason of a refusal.
		r = g.take(tat, now, int64(n), maxWait)
		if !r.ok && len(s.pauses) != 0 && k.pausedUntil(s, key, now) != 0 {
			r.reason, r.remaining = ReasonPaused, 0
		}
	}
	if r.ok && r.wait == 0 {
		s.admitted++ // a call that waits is counted when its wait ends
	}
	if r.ok && n > 0 { // a free call only looks
		if !found {
			key = k.admit(s, key)
		}
		s.m[key] = r.newTAT
	}
	s.mu.Unlock()
	return r
}

// refund gives back n tokens reserved by a call that stopped waiting.
// Reservations made after it keep their place; the bucket gains what the
// call did not use, as far as it is not already full.
func (k *Keyed) refund(key string, g gcra, n int) {
	if g.inf || n <= 0 {
		return
	}
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	if tat, ok := s.m[key]; ok {
		if g.norefill {
			s.m[key] = max(zeroBase, tat-int64(n))
		} else {
			s.m[key] = max(now, tat-satMul(g.interval, int64(n)))
		}
	}
	s.mu.Unlock()
}

func (k *Keyed) reject(ctx context.Context, key string, reason Reason, wait time.Duration) error {
	e := &LimitedError{Key: key, Reason: reason, Wait: wait}
	k.s.limited(ctx, e)
	return e
}

// admit makes room in s for one more key and returns the key to store (a
// copy, so that a key cut from a larger string does not keep it alive).
// s.mu is held.
func (k *Keyed) admit(s *shard, key string) string {
	if len(s.m) >= s.sweepAt {
		k.sweep(s)
	}
	return strings.Clone(key)
}

// sweep drops the keys whose bucket is full again; if the shard is still at
// its cap, it drops the keys closest to full until an eighth of the cap is
// free. The next sweep is due when the shard has doubled (or reached its
// cap), so the work is constant per insertion on average. s.mu is held.
func (k *Keyed) sweep(s *shard) {
	now := k.now()
	for key, tat := range s.m {
		if tat <= now {
			delete(s.m, key)
		}
	}
	if len(s.pauses) != 0 {
		k.sweepPauses(s, now)
	}
	if target := k.shardCap - max(1, k.shardCap/8); len(s.m) >= k.shardCap {
		evictClosestToFull(s.m, target)
	}
	// Maps do not shrink: rebuild one that holds far less than it did.
	if s.peak = max(s.peak, len(s.m)); s.peak >= 4*minSweep && len(s.m) < s.peak/4 {
		m := make(map[string]int64, len(s.m))
		for key, tat := range s.m {
			m[key] = tat
		}
		s.m, s.peak = m, len(m)
	}
	s.sweepAt = min(k.shardCap, max(minSweep, 2*len(s.m)))
}

// evictClosestToFull deletes entries of m, those with the earliest TAT
// first, until at most target remain. It estimates the cut-off from a
// random sample, which map iteration order provides.
func evictClosestToFull(m map[string]int64, target int) {
	var sample [128]int64
	for len(m) > target {
		n := 0
		for _, tat := range m {
			sample[n] = tat
			if n++; n == len(sample) {
				break
			}
		}
		excess := len(m) - target
		// The share of the sample to cut matches the share of the map.
		idx := min(n-1, excess*n/len(m))
		cut := nthSmallest(sample[:n], idx)
		for key, tat := range m {
			if len(m) <= target {
				break
			}
			if tat <= cut {
				delete(m, key)
			}
		}
	}
}

// nthSmallest returns the element that would be at index i of xs sorted
// (xs is reordered).
func nthSmallest(xs []int64, i int) int64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		p := xs[(lo+hi)/2]
		l, r := lo, hi
		for l <= r {
			for xs[l] < p {
				l++
			}
			for xs[r] > p {
				r--
			}
			if l <= r {
				xs[l], xs[r] = xs[r], xs[l]
				l++
				r--
			}
		}
		switch {
		case i <= r:
			hi = r
		case i >= l:
			lo = l
		default:
			return xs[i]
		}
	}
	return xs[i]
}

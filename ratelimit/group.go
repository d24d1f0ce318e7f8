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
	"github.com/resiliencekit/resilience/internal/keyed"
	"github.com/resiliencekit/resilience/ratelimit/internal/pause"
)

// DefaultMaxKeys is the number of keys a [Group] remembers at most
// when [GroupConfig.MaxKeys] is 0: 2^20, some tens of megabytes. It is
// larger than the DefaultMaxKeys of the breaker and bulkhead groups
// because a key costs far less here (one 8-byte number beside the key)
// and because a rate limit that forgets a key gives that client a full
// bucket: the bound must exceed the number of clients a server sees within
// a refill period.
const DefaultMaxKeys = 1 << 20

// GroupConfig holds the optional settings of a [Group]. The zero value is
// the default. It has the fields of every package's GroupConfig (breaker,
// bulkhead) but two: the per-key override is QuotaFor, as the per-key part
// of a rate limit is its quota, and there is no IdleTimeout, as a bucket
// that has refilled holds no state (a forgotten key starts full, exactly
// as if it had been kept) and is dropped first when room is needed.
type GroupConfig struct {
	// Config configures every key's bucket: MaxWait, MaxQueue (a bound on
	// waiting calls across all keys), MaxPause, Cost, DryRun, Headers,
	// Name (the name of the default quota) and OnLimited. It is a named
	// field, as in every GroupConfig.
	Config Config

	// QuotaFor, if not nil, gives the quota of a key: the tier of a
	// customer or an API key. It returns false to apply the default quota
	// given to NewGroup. It is called on every decision (with the caller's
	// key, not its bounded form; see MaxKeys), with no lock held, so a
	// change of tier takes effect at once; it must be safe for concurrent
	// use and fast (a map lookup, not a database query). The quota it
	// returns must be valid (see [Quota]: Burst at least 1 unless Rate is
	// rate.Inf); an invalid one is a programming error and panics in the
	// call that got it, with a "ratelimit: QuotaFor" message.
	QuotaFor func(key string) (Quota, bool)

	// MaxKeys bounds how many keys are held at once, so that a caller who
	// sends endless distinct keys cannot exhaust memory; 0 means
	// [DefaultMaxKeys]. Keys whose bucket has filled up again are
	// forgotten first, which changes nothing (a forgotten key starts with
	// a full bucket). Only when MaxKeys keys all have partly empty buckets
	// are the keys closest to full forgotten, giving them a full bucket
	// early. The pauses that a downstream's 429 starts are kept beside the
	// buckets, bounded by MaxKeys as well. Negative values panic.
	//
	// Keys are bounded in bytes too: a key longer than 128 bytes is held
	// as "sha256:" followed by the hex SHA-256 of it (71 bytes), so memory
	// stays below MaxKeys × (128 bytes + some 40 bytes of bucket and map
	// entry) whatever the callers send. Such a key still has a bucket of
	// its own (two long keys share one only if their SHA-256 does);
	// [Group.Range] shows the held form, and errors and QuotaFor get the
	// caller's key. Hashing allocates, for long keys only.
	MaxKeys int

	// Key returns the key of a call of Do; nil means resilience.KeyFrom:
	// the key set by resilience.WithKey, which resilience.Handler sets to
	// the client's address (or what its HandlerConfig.Key says) and
	// resilience.Transport to the request's host.
	Key func(ctx context.Context) string
}

// Group is a rate limiter with one bucket per key: per client address,
// customer or API key under resilience.Handler, or per downstream host
// inside resilience.Transport. Tiers get different quotas through
// [GroupConfig.QuotaFor]. It is a resilience.Policy whose Do finds the key
// in the context; the methods that take a key explicitly (DoKey, Allow,
// Wait, Take, Pause) serve other callers. It has the method set of every
// package's Group (Do, Len, Metrics(key), Range, Name) but Get: a key's
// bucket is 8 bytes of state, not an object to hand out. Totals returns
// the group-wide counters.
//
// Each bucket is the generic cell rate algorithm (GCRA), which admits
// exactly what a token bucket of the same rate and burst admits (a rate of
// 0 included: Burst tokens in all, as rate.Limiter) but whose state is one
// 8-byte number, so a million live keys take some tens of megabytes.
// Memory stays bounded without a background goroutine: keys whose bucket
// is full again are dropped while new keys are added, and
// [GroupConfig.MaxKeys] caps the total.
//
// When the operation fails with 429 Too Many Requests and a Retry-After
// (see [Config.MaxPause]), the key is paused: nothing is admitted for it
// until then, under any limit (rate.Inf included), and a refilling bucket
// starts again with one token.
//
// A Group is safe for concurrent use. Deciding for a known key
// allocates nothing. It must be made with [NewGroup]; the zero value is not
// usable.
type Group struct {
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
	refusals lastRefusal      // the last refusal of a key of the shard, handed out again while it says the same
	_        [8]byte          // keep shards on separate cache lines
}

const minSweep = 64

// NewGroup returns a Group whose default quota is r calls per
// second with bursts of burst (as for [New]; r is a rate.Limit, calls per
// second), for every key that [GroupConfig.QuotaFor] does not place in a
// tier. NewGroup panics if the limit
// is invalid (see [Quota]: a negative, NaN or +Inf r, a burst below 1
// unless r is rate.Inf) or the configuration is.
func NewGroup(r rate.Limit, burst int, c GroupConfig) *Group {
	s := c.Config.resolve()
	def := Quota{Rate: r, Burst: burst, Name: c.Config.Name}
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
	k := &Group{
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
func (k *Group) QuotaFor(key string) Quota {
	l, _ := k.limit(key)
	return l
}

func (k *Group) limit(key string) (Quota, gcra) {
	if k.limitFor != nil {
		if l, ok := k.limitFor(key); ok {
			l.check("QuotaFor", key)
			return l, newGCRA(l)
		}
	}
	return k.def, k.defG
}

// Do runs op under the bucket of the key found in ctx (see
// [GroupConfig.Key]), as [Limiter.Do] does under its single bucket: at
// once, after a wait of at most MaxWait, or not at all with a
// [*LimitedError]. Under resilience.Handler it writes the RateLimit headers
// of the key's bucket. It keeps the resilience.Policy contract.
func (k *Group) Do(ctx context.Context, op func(context.Context) error) error {
	return k.DoKey(ctx, k.keyOf(ctx), op)
}

// DoKey is Do with an explicit key.
func (k *Group) DoKey(ctx context.Context, key string, op func(context.Context) error) error {
	n := k.s.costOf(ctx)
	var h http.Header
	if k.s.headers != NoHeaders && !k.s.dryRun {
		h = resilience.ResponseHeader(ctx)
	}
	switch {
	case k.s.dryRun:
		_, g := k.limit(key)
		if r := k.take(key, g, n, k.budget(ctx)); !r.ok {
			k.reject(ctx, key, &r)
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

func (k *Group) run(ctx context.Context, key string, op func(context.Context) error) error {
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
func (k *Group) Allow(key string) bool { return k.AllowN(key, 1) }

// AllowN is Allow for n tokens at once.
func (k *Group) AllowN(key string, n int) bool {
	_, g := k.limit(key)
	return k.take(key, g, n, 0).ok
}

// Wait takes a token for key, waiting for it as Do does. It returns nil
// when the token was taken, a [*LimitedError], or ctx.Err().
func (k *Group) Wait(ctx context.Context, key string) error { return k.WaitN(ctx, key, 1) }

// WaitN is Wait for n tokens at once.
func (k *Group) WaitN(ctx context.Context, key string, n int) error {
	_, g := k.limit(key)
	return k.wait(ctx, key, g, n, nil)
}

// budget is how long a call may wait: MaxWait, within the deadline of ctx.
func (k *Group) budget(ctx context.Context) time.Duration {
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
func (k *Group) wait(ctx context.Context, key string, g gcra, n int, out *gcraResult) error {
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
func (k *Group) settle(ctx context.Context, key string, g gcra, n int, r *gcraResult) error {
	if !r.ok {
		return k.reject(ctx, key, r)
	}
	if w := k.waiters.Add(1); w > k.s.MaxQueue {
		k.waiters.Add(-1)
		k.refund(key, g, n)
		r.ok, r.reason = false, ReasonQueueFull
		return k.reject(ctx, key, r)
	}
	var start time.Time
	if k.s.observer != nil {
		start = time.Now()
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
	if k.s.observer != nil {
		k.s.waited(ctx, key, time.Since(start))
	}
	return nil
}

// Take takes cost tokens from the bucket of key if they are there, without
// waiting, and reports the state of the bucket. The error is always nil.
func (k *Group) Take(ctx context.Context, key string, cost int) (Decision, error) {
	l, g := k.limit(key)
	r := k.take(key, g, cost, 0)
	d := Decision{Allowed: r.ok, Quota: l, Remaining: int(r.remaining), Reset: r.reset}
	if !r.ok {
		d.Reason, d.RetryAfter = r.reason, r.wait
		k.s.limited(ctx, k.refusal(key, &r), key, 0)
	}
	return d, nil
}

// Pause makes the limiter admit nothing for key during d (a longer pause
// already in force is kept), under any limit of the key; afterwards a
// refilling bucket starts with one token. DoKey calls it by itself when a
// downstream answers 429 with a Retry-After, with a wait capped by
// [Config.MaxPause]; call it when you learn of a pause another way (d is
// then not capped). Calls refused during the pause report ReasonPaused.
func (k *Group) Pause(key string, d time.Duration) {
	if d <= 0 {
		return
	}
	_, g := k.limit(key)
	key = bound(key)
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
func (k *Group) Paused(key string) time.Duration {
	if until, now := k.pauseOf(key); until != 0 {
		return time.Duration(until - now)
	}
	return 0
}

// pauseOf returns the end of the pause of key, 0 when there is none in
// force, and the time now it was looked up at.
func (k *Group) pauseOf(key string) (until, now int64) {
	if k.pauses.Load() == 0 {
		return 0, 0
	}
	key = bound(key)
	now = k.now()
	s := k.shard(key)
	s.mu.Lock()
	until = k.pausedUntil(s, key, now)
	s.mu.Unlock()
	return until, now
}

// setPause records the end of the pause of key. s.mu is held.
func (k *Group) setPause(s *shard, key string, until, now int64) {
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
func (k *Group) pausedUntil(s *shard, key string, now int64) int64 {
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
func (k *Group) sweepPauses(s *shard, now int64) {
	for key, until := range s.pauses {
		if until <= now {
			delete(s.pauses, key)
			k.pauses.Add(-1)
		}
	}
}

// Len returns how many keys the group holds now: the keys with a bucket
// (keys whose bucket is full again may still be counted until a sweep
// drops them), and the keys with a pause in force but no bucket (those of
// a rate.Inf or rate-0 quota).
func (k *Group) Len() int {
	n := 0
	now := k.now()
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += s.held(now)
		s.mu.Unlock()
	}
	return n
}

// held returns how many keys s holds (see Len). s.mu is held.
func (s *shard) held(now int64) int {
	n := len(s.m)
	for key, until := range s.pauses {
		if _, ok := s.m[key]; !ok && until > now {
			n++
		}
	}
	return n
}

// Waiting returns how many calls are waiting for tokens now.
func (k *Group) Waiting() int { return int(k.waiters.Load()) }

// Name returns [Config.Name], the name of the default quota ("" when
// unset; the RateLimit headers call it "default").
func (k *Group) Name() string { return k.def.Name }

// Totals returns the group's counters and state, over all keys: the calls
// admitted (under finite quotas), the refusals by Reason, the keys held
// (as [Group.Len] counts them), the pauses and the waiting calls (see
// [Metrics]). It takes the lock of each shard in turn, as Len does.
func (k *Group) Totals() Metrics {
	m := Metrics{Refused: k.s.refused.snapshot(), Admitted: k.waited.Load()}
	now := k.now()
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		m.Keys += s.held(now)
		m.Admitted += s.admitted
		s.mu.Unlock()
	}
	m.Pauses = int(k.pauses.Load())
	m.Waiting = k.Waiting()
	return m
}

// Metrics returns a snapshot of the bucket of key: its Tokens (fractions
// included; negative while calls wait for tokens they reserved, or while a
// pause lasts), its Quota and how long its pause lasts (Paused). The other
// fields are zero: the counters are kept for the group (see
// [Group.Totals]). It reports false when the group holds nothing for key,
// and then returns the full bucket that key would start with. It stores
// nothing.
func (k *Group) Metrics(key string) (Metrics, bool) {
	q, g := k.limit(key)
	key = bound(key)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	tat, held := s.m[key]
	until := s.pauses[key]
	s.mu.Unlock()
	return keyMetrics(q, g, tat, until, now), held || until > now
}

// Range calls f with every key the group holds and the snapshot that
// [Group.Metrics] returns for it, until f returns false. A key longer than
// 128 bytes is held, and shown, as its hash (see [GroupConfig.MaxKeys]);
// its Quota is then what QuotaFor says of that form. Range copies one
// shard of the keys at a time and calls f with no lock held, so f may call
// the group; keys added or dropped meanwhile may be seen or not.
func (k *Group) Range(f func(key string, m Metrics) bool) {
	type held struct {
		key        string
		tat, until int64
	}
	var buf []held
	for i := range k.shards {
		s := &k.shards[i]
		now := k.now()
		buf = buf[:0]
		s.mu.Lock()
		for key, tat := range s.m {
			buf = append(buf, held{key: key, tat: tat, until: s.pauses[key]})
		}
		for key, until := range s.pauses {
			if _, ok := s.m[key]; !ok && until > now {
				buf = append(buf, held{key: key, until: until})
			}
		}
		s.mu.Unlock()
		for _, h := range buf {
			q, g := k.limit(h.key)
			if !f(h.key, keyMetrics(q, g, h.tat, h.until, now)) {
				return
			}
		}
	}
}

// keyMetrics is the snapshot of one key's bucket.
func keyMetrics(q Quota, g gcra, tat, until, now int64) Metrics {
	m := Metrics{Quota: q, Tokens: g.tokens(tat, now)}
	if until > now {
		m.Paused = time.Duration(until - now)
	}
	return m
}

func (k *Group) now() int64 { return int64(time.Since(k.epoch)) }

func (k *Group) shard(key string) *shard {
	return &k.shards[maphash.String(k.seed, key)&k.mask]
}

// take decides for n tokens of key, reserving them when the wait fits
// maxWait. A refused result carries its Reason.
func (k *Group) take(key string, g gcra, n int, maxWait time.Duration) gcraResult {
	key = bound(key)
	n = max(n, 0)
	if g.inf {
		if until, now := k.pauseOf(key); until != 0 {
			left := time.Duration(until - now)
			if left > maxWait {
				return gcraResult{reason: ReasonPaused, wait: left, at: until}
			}
			return gcraResult{ok: true, wait: left, at: until, remaining: g.burst}
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
					r = gcraResult{reason: ReasonPaused, wait: wait, at: until, reset: never}
				} else {
					r.wait, r.at = wait, until
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
	r.shard = s
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
func (k *Group) refund(key string, g gcra, n int) {
	if g.inf || n <= 0 {
		return
	}
	key = bound(key)
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

// reject refuses the call of key that take refused (or that found the
// queue full).
func (k *Group) reject(ctx context.Context, key string, r *gcraResult) error {
	e := k.refusal(key, r)
	k.s.limited(ctx, e, key, 0)
	return e
}

// refusal returns the error of a refused call of key: the last refusal of
// its shard when it says the same (see [LimitedError]), else a new one.
func (k *Group) refusal(key string, r *gcraResult) *LimitedError {
	s := r.shard
	if s == nil { // decided without the shard: a rate.Inf quota
		s = k.shard(bound(key))
	}
	var at time.Time
	if r.at != 0 && r.wait > 0 {
		at = k.epoch.Add(time.Duration(r.at))
	}
	return s.refusals.get(key, r.reason, at)
}

// admit makes room in s for one more key and returns the key to store (a
// copy, so that a key cut from a larger string does not keep it alive).
// s.mu is held.
func (k *Group) admit(s *shard, key string) string {
	if len(s.m) >= s.sweepAt {
		k.sweep(s)
	}
	return strings.Clone(key)
}

// sweep drops the keys whose bucket is full again; if the shard is still at
// its cap, it drops the keys closest to full until an eighth of the cap is
// free. The next sweep is due when the shard has doubled (or reached its
// cap), so the work is constant per insertion on average. s.mu is held.
func (k *Group) sweep(s *shard) {
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

// bound is keyed.Bound with its common case inlined: a key of at most
// keyed.MaxLen bytes is held as it is, at the cost of one comparison.
func bound(key string) string {
	if len(key) <= keyed.MaxLen {
		return key
	}
	return keyed.Bound(key)
}

package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
)

// DefaultMaxKeys is the number of keys a [Keyed] limiter remembers at most
// when [KeyedConfig.MaxKeys] is 0: about 2^20, some tens of megabytes.
const DefaultMaxKeys = 1 << 20

// KeyedConfig holds the optional settings of a [Keyed] limiter. The zero
// value is the default.
type KeyedConfig struct {
	// Config holds the settings shared with [Limiter]: MaxWait, MaxWaiters
	// (a bound on waiting calls across all keys), IgnoreRetryAfter, Name
	// and OnLimited.
	Config

	// LimitFor, if not nil, gives the limit of a key: the tier of a
	// customer or an API key. It returns false to apply the default limit
	// given to NewKeyed. It is called on every decision, with no lock held,
	// so a change of tier takes effect at once; it must be safe for
	// concurrent use and fast (a map lookup, not a database query). A
	// limit with Rate 0 or Burst 0 admits nothing for that key; Rate
	// rate.Inf admits everything.
	LimitFor func(key string) (Limit, bool)

	// MaxKeys bounds how many keys are remembered at once, so that a
	// caller who sends endless distinct keys cannot exhaust memory; 0 means
	// DefaultMaxKeys. Keys whose bucket has filled up again are forgotten
	// first, which changes nothing (a forgotten key starts with a full
	// bucket). Only when MaxKeys keys all have partly empty buckets are the
	// keys closest to full forgotten, giving them a full bucket early.
	// Negative values panic.
	MaxKeys int

	// Key returns the key of a call of Do; nil means resilience.KeyFrom
	// (the key set by resilience.WithKey, the request's host inside
	// resilience.Transport).
	Key func(ctx context.Context) string
}

// Keyed is a rate limiter with one bucket per key: per customer, per API
// key, per client IP, or (inside resilience.Transport) per downstream host.
// Tiers get different limits through [KeyedConfig.LimitFor]. It is a
// resilience.Policy whose Do finds the key in the context; the methods
// that take a key explicitly (DoKey, Allow, Wait, Take) serve other
// callers.
//
// Each bucket is the generic cell rate algorithm (GCRA), which admits
// exactly what a token bucket of the same rate and burst admits but whose
// state is one 8-byte number, so a million live keys take some tens of
// megabytes. Memory stays bounded without a background goroutine: keys
// whose bucket is full again are dropped while new keys are added, and
// [KeyedConfig.MaxKeys] caps the total.
//
// When the operation fails with 429 Too Many Requests and a Retry-After
// (see [Config.IgnoreRetryAfter]), the key is paused: nothing is admitted
// for it until then, and it starts again with one token.
//
// A Keyed limiter is safe for concurrent use. Deciding for a known key
// allocates nothing. It must be made with [NewKeyed]; the zero value is not
// usable.
type Keyed struct {
	def        Limit
	defG       gcra
	limitFor   func(string) (Limit, bool)
	keyOf      func(context.Context) string
	maxWait    time.Duration
	maxWaiters int64
	honorRA    bool
	onLimited  func(*LimitedError)
	epoch      time.Time
	seed       maphash.Seed
	shards     []shard
	mask       uint64
	shardCap   int
	waiters    atomic.Int64
}

// shard is one part of the key space with its own lock.
type shard struct {
	mu      sync.Mutex
	m       map[string]int64 // key → TAT, nanoseconds since epoch
	sweepAt int              // size at which the next insertion sweeps
	peak    int              // largest size since the map was last rebuilt
	_       [32]byte         // keep shards on separate cache lines
}

const minSweep = 64

// NewKeyed returns a Keyed limiter whose default limit is r calls per
// second with bursts of burst (as for [New]; r is a rate.Limit, calls per
// second), for every key that [KeyedConfig.LimitFor] does not place in a
// tier. At most one KeyedConfig may be given. NewKeyed panics if r or burst
// is negative or the configuration is invalid.
func NewKeyed(r rate.Limit, burst int, cfg ...KeyedConfig) *Keyed {
	c := oneConfig(cfg)
	c.check()
	def := Limit{Rate: r, Burst: burst, Name: c.Name}
	def.check()
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
		def:        def,
		defG:       newGCRA(def),
		limitFor:   c.LimitFor,
		keyOf:      c.Key,
		maxWait:    c.MaxWait,
		maxWaiters: int64(c.MaxWaiters),
		honorRA:    !c.IgnoreRetryAfter,
		onLimited:  c.OnLimited,
		epoch:      time.Now(),
		seed:       maphash.MakeSeed(),
		shards:     make([]shard, n),
		mask:       uint64(n - 1),
		shardCap:   (maxKeys + n - 1) / n,
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

// LimitFor returns the limit that applies to key: its tier, or the
// default.
func (k *Keyed) LimitFor(key string) Limit {
	l, _ := k.limit(key)
	return l
}

func (k *Keyed) limit(key string) (Limit, gcra) {
	if k.limitFor != nil {
		if l, ok := k.limitFor(key); ok {
			return l, newGCRA(l)
		}
	}
	return k.def, k.defG
}

// Do runs op under the bucket of the key found in ctx (see
// [KeyedConfig.Key]), as [Limiter.Do] does under its single bucket: at
// once, after a wait of at most MaxWait, or not at all with a
// [*LimitedError]. It keeps the resilience.Policy contract.
func (k *Keyed) Do(ctx context.Context, op func(context.Context) error) error {
	return k.DoKey(ctx, k.keyOf(ctx), op)
}

// DoKey is Do with an explicit key.
func (k *Keyed) DoKey(ctx context.Context, key string, op func(context.Context) error) error {
	if err := k.WaitN(ctx, key, 1); err != nil {
		return err
	}
	err := op(ctx)
	if err != nil && k.honorRA {
		if d, ok := Pushback(err); ok {
			k.Pause(key, d)
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
	r, _ := k.take(key, g, n, 0)
	return r.ok
}

// Wait takes a token for key, waiting for it as Do does. It returns nil
// when the token was taken, a [*LimitedError], or ctx.Err().
func (k *Keyed) Wait(ctx context.Context, key string) error { return k.WaitN(ctx, key, 1) }

// WaitN is Wait for n tokens at once.
func (k *Keyed) WaitN(ctx context.Context, key string, n int) error {
	_, g := k.limit(key)
	budget := k.maxWait
	if budget > 0 {
		if dl, ok := ctx.Deadline(); ok {
			budget = min(budget, max(0, time.Until(dl)))
		}
	}
	r, costly := k.take(key, g, n, budget)
	switch {
	case costly:
		return k.reject(key, TooCostly, 0)
	case !r.ok:
		return k.reject(key, Rate, r.wait)
	case r.wait == 0:
		return nil
	}
	// Reserved: wait for the tokens, or give them back.
	if w := k.waiters.Add(1); k.maxWaiters > 0 && w > k.maxWaiters {
		k.waiters.Add(-1)
		k.refund(key, g, n)
		return k.reject(key, Waiters, r.wait)
	}
	err := sleepCtx(ctx, r.wait)
	k.waiters.Add(-1)
	if err != nil {
		k.refund(key, g, n)
	}
	return err
}

// Take takes cost tokens from the bucket of key if they are there, without
// waiting, and reports the state of the bucket. It makes Keyed a [Taker],
// for [Handler]. The error is always nil.
func (k *Keyed) Take(_ context.Context, key string, cost int) (Decision, error) {
	l, g := k.limit(key)
	r, costly := k.take(key, g, cost, 0)
	d := Decision{Allowed: r.ok, Limit: l, Remaining: int(r.remaining), Reset: r.reset}
	switch {
	case costly:
		d.Reason = TooCostly
	case !r.ok:
		d.Reason, d.RetryAfter = Rate, r.wait
	}
	if !d.Allowed {
		k.limited(&LimitedError{Key: key, Reason: d.Reason, Wait: d.RetryAfter})
	}
	return d, nil
}

// Pause makes the limiter admit nothing for key during d (a longer pause
// already in force is kept); afterwards the bucket starts with one token.
// DoKey calls it by itself when a downstream answers 429 with a
// Retry-After. Calls refused during the pause report Reason Rate (the
// bucket keeps no separate pause) with the end of the pause as their wait.
func (k *Keyed) Pause(key string, d time.Duration) {
	_, g := k.limit(key)
	if d <= 0 || g.inf || g.deny {
		return
	}
	until := k.now() + int64(d) + g.tolerance - g.interval
	s := k.shard(key)
	s.mu.Lock()
	tat, ok := s.m[key]
	if until > tat {
		if !ok {
			key = k.admit(s, key)
		}
		s.m[key] = until
	}
	s.mu.Unlock()
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

func (k *Keyed) now() int64 { return int64(time.Since(k.epoch)) }

func (k *Keyed) shard(key string) *shard {
	return &k.shards[maphash.String(k.seed, key)&k.mask]
}

// take decides for n tokens, reserving them when the wait fits maxWait.
// costly reports a cost above the burst.
func (k *Keyed) take(key string, g gcra, n int, maxWait time.Duration) (r gcraResult, costly bool) {
	switch {
	case g.inf:
		return gcraResult{ok: true, remaining: g.burst}, false
	case g.deny || int64(n) > g.burst:
		return gcraResult{}, !g.deny
	}
	n = max(n, 0)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	tat, ok := s.m[key]
	r = g.take(tat, now, int64(n), maxWait)
	if r.ok && n > 0 { // a free call only looks
		if !ok {
			key = k.admit(s, key)
		}
		s.m[key] = r.newTAT
	}
	s.mu.Unlock()
	return r, false
}

// refund gives back n tokens reserved by a call that stopped waiting.
// Reservations made after it keep their place; the bucket gains what the
// call did not use, as far as it is not already full.
func (k *Keyed) refund(key string, g gcra, n int) {
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	if tat, ok := s.m[key]; ok {
		s.m[key] = max(now, tat-satMul(g.interval, int64(n)))
	}
	s.mu.Unlock()
}

func (k *Keyed) reject(key string, reason Reason, wait time.Duration) error {
	e := &LimitedError{Key: key, Reason: reason, Wait: wait}
	k.limited(e)
	return e
}

func (k *Keyed) limited(e *LimitedError) {
	if k.onLimited != nil {
		k.onLimited(e)
	}
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

// Package breaker is a circuit breaker: it stops calling a dependency that
// keeps failing, fails fast while it is open, probes the dependency after a
// while and closes again by itself when it has recovered.
//
// A [Breaker] is a resilience.Policy. Use one per dependency — never one
// for everything — and a [Group] for one per key, such as one per
// downstream host behind resilience.Transport:
//
//	b := breaker.New(breaker.Config{
//		WindowCalls:  100, // failure rate over the last 100 calls
//		FailureRate:  0.5,
//		OpenDuration: 10 * time.Second,
//	})
//	err := b.Do(ctx, func(ctx context.Context) error { return callDependency(ctx) })
//	if errors.Is(err, breaker.ErrOpen) {
//		// fail fast, or fall back
//	}
//
// # States
//
// A breaker is [Closed] (calls go through and are counted), [Open] (calls
// fail with an [*OpenError] that matches [ErrOpen], tells when to come back
// with RetryAfter, is a local rejection for resilience.IsLocalRejection, and
// makes resilience.Handler answer 503), or [HalfOpen]
// (a few probes go through; enough successes close it, one failure opens
// it again). [Breaker.ForceOpen] and [Breaker.Disable] take manual control
// until [Breaker.Reset]. Transitions happen in the calls that notice them
// and are reported to Config.OnStateChange, outside every lock, with the
// context of the call that made them (the health-check goroutine's for the
// health check, context.Background() for ForceOpen, Disable and Reset).
// Config.Name names a breaker for telemetry ([Breaker.Name]); the breakers
// of a Group carry the group's name. [Breaker.Metrics] is a snapshot of its
// counters; a Group's are read with [Group.Metrics] (per key) and
// [Group.Range], and [Group.Get] hands out a key's breaker (for
// ForceOpen, say).
//
// # Groups
//
// [Group] has the shape of every per-key group of this module
// (bulkhead.Group, ratelimit.Group): a [GroupConfig] with the per-key
// Config, ConfigFor, MaxKeys, IdleTimeout and Key, and the methods Do, Get,
// Len, Metrics, Range and Name. It holds at most MaxKeys breakers under
// keys of at most 128 bytes (a longer key is held as its SHA-256), drops
// idle ones when new keys need room, and never drops a busy one: with a
// call of Do in flight, open before its open duration has passed, or
// forced open. When all are busy, a new key's call is refused with a
// [*TooManyKeysError], which matches [ErrTooManyKeys] (not ErrOpen: no
// breaker of that key failed), is a local rejection and answers 503.
//
// # Trip rules
//
// A breaker opens after Config.ConsecutiveFailures failures in a row (the
// default rule), or when the failure rate or the slow-call rate reaches its
// threshold over a count window (the last N calls) or a time window (the
// last d, in buckets), once the window holds Config.MinCalls calls. A call
// is slow when it takes at least Config.SlowCall (≥: a call of exactly
// SlowCall is slow, where resilience4j's threshold uses >).
//
// # What counts
//
// Each outcome is a success, a failure or ignored, as Config.Classify says
// (by default nil is a success and any other error a failure). The
// caller's impatience is not the dependency's failure, so before Classify
// is asked — whatever it would say — a call that failed is ignored when:
//
//   - the ctx given to Do is done by the caller's own doing when op
//     returns: its deadline or cancel, not a time limit that a policy set
//     (resilience.CallerDone), whatever error op returned (ctx.Err(), a
//     *url.Error wrapping it, or an error of its own);
//   - op's error matches context.Canceled;
//   - op's error is a local rejection (resilience.IsLocalRejection): a
//     policy inside the breaker, such as a full bulkhead or a local rate
//     limit, refused the call before it reached the dependency;
//   - op panicked with http.ErrAbortHandler (the panic propagates).
//
// An ignored call is no success, no failure and no slow call, and an
// ignored probe frees its half-open slot. A time limit of package
// timelimit — per attempt in resilience.Chain(breaker, limit), or for the
// whole call outside the breaker — is a policy's measure of the
// dependency, so its expiry counts: by default, a failure. A success is a
// success even when it came back after the caller gave up. Any other panic
// is a failure, and propagates.
//
// # Probing
//
// After the open duration — fixed, or growing across re-opens up to a cap,
// with jitter — the breaker lets up to Config.MaxProbes calls through at a
// time. With Config.HealthCheck it probes in a goroutine of its own
// instead, so user calls never pay for a probe; [Breaker.Close] stops it.
//
// # Configuration and errors
//
// Every zero field of [Config] and [GroupConfig] means its documented
// default; the fields whose zero turns a rule off (a window, SlowCall,
// MaxOpenDuration, OpenJitter, HealthCheck) have no rule as their default.
// GroupConfig.MaxKeys means what it means in bulkhead.GroupConfig, with
// the same default (1024). Invalid values panic in [New] and [NewGroup]
// with a "breaker: ..." message.
//
// Every rejection by a breaker — open, half-open with every probe slot
// taken, forced open, in a Group or not — is an [*OpenError], matches
// [ErrOpen] and is a
// local rejection (resilience.IsLocalRejection): retry policies give up at
// once on it rather than wait for the next probe, and breakers and
// adaptive limits outside this breaker do not count it. An OpenError is
// immutable, read through methods, and shared: one per open period, made
// when the breaker opens, whose RetryAfter counts down to the end of that
// period (so an error kept after it answers 0, never the wait of a later
// period), and one for every half-open or forced-open rejection.
//
// # Events
//
// With Config.Observer set, a breaker reports what it does as
// resilience.Events with Policy "breaker", Name [Breaker.Name] and Key the
// key of a Group's breaker as the group holds it (a long one as its hash;
// "" outside a Group):
//
//   - EventStateChange for every change of state: From and To are
//     State.String() ("closed", "open", "half-open", "forced-open",
//     "disabled"), Err the failure that opened the breaker (the error of
//     the call, probe or health check whose outcome tripped it), nil when
//     none is known (a panic, a slow call, a success that filled the
//     window up to MinCalls) and for every other change. Changes are
//     delivered as OnStateChange's are, just after it: in order, with no
//     lock held, with the context of what made the change (the call's,
//     the health-check goroutine's, context.Background() for ForceOpen,
//     Disable and Reset). A change made while another goroutine is
//     delivering is delivered by that goroutine, so that no observer sees
//     two changes out of order.
//   - EventReject for every call refused, on the caller's goroutine, with
//     its context and before Do returns: Err is the error Do returns and
//     Reason says why, as below.
//
// The reasons of EventReject:
//
//   - "open": the breaker is open and its open period has not ended (or
//     a health check probes in place of calls); Err is the period's
//     [*OpenError].
//   - "half_open": the breaker is half-open and every probe slot is
//     taken (or a health check probes); Err is an *OpenError whose State
//     is HalfOpen.
//   - "forced_open": [Breaker.ForceOpen] isolated the dependency.
//   - "too_many_keys": a Group holds MaxKeys busy breakers and none for
//     the call's key; Err is the [*TooManyKeysError].
//
// Successes and failures are not events: a call in the Closed state that
// succeeds never looks at the Observer. A breaker without one pays a nil
// check per rejection and per change of state, and allocates nothing for
// it; with one, the events are passed by value and a rejection still
// allocates nothing.
//
// # Cost
//
// A call in the Closed state that succeeds takes no lock, allocates nothing
// and does not read the clock (unless Config.SlowCall asks to time calls);
// it increments one counter, striped over cache lines so that concurrent
// callers on different CPUs do not contend. A rejection allocates nothing
// either: it reads the clock once (unless a health check probes) and
// counts itself. Failures, transitions and Metrics do the rest of the
// work.
package breaker

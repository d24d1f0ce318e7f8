// Package ratelimit throttles calls: client-side pacing of calls to a
// downstream, server-side rejection with 429 Too Many Requests, per-key
// quotas with tiers, and adaptive client-side throttling. Bandwidth limits
// (bytes per second) are in package bandwidth, the RateLimit header codec
// in ratelimit/header.
//
// # Limiters
//
// A [Limiter] is one token bucket, built on golang.org/x/time/rate:
// New(10, 20, Config{}) admits 10 calls per second on average with bursts
// of 20 (rates are rate.Limit values, calls per second; rate.Every
// converts an interval).
// A [Group] keeps one bucket per key — client address, customer,
// API key or downstream host — with tiers chosen by
// [GroupConfig.QuotaFor], and bounded memory without a janitor goroutine.
// Both are resilience.Policy values whose Do either runs the operation,
// waits for its tokens up to [Config.MaxWait], or refuses the call with a
// [*LimitedError].
//
// A [Quota] is a rate and a burst (and a name for the headers). rate.Inf admits everything; a
// rate of 0 admits the burst in all and then nothing (the bucket never
// refills), as rate.Limiter does. The burst must be at least 1 unless the
// rate is rate.Inf: a bucket of no tokens would refuse every call, so New,
// NewGroup and SetQuota panic on it, as on a negative, NaN or +Inf rate;
// a tier that QuotaFor returns obeys the same rules, or the call that gets
// it panics.
//
// # Server side: under resilience.Handler
//
// There is one way to limit an HTTP server: a limiter as a policy of
// resilience.Handler (or resilience.NewHandler). The Handler keys each
// request — by default the client's address as the TCP connection shows
// it, IPv6 clients grouped by /64; behind proxies, HandlerConfig.Key with
// httpkey.ClientIP and its TrustedProxies; for API keys, httpkey.Header —
// so a [Group], or the limiter of ratelimit/redis, keeps a bucket
// per client, and a [Limiter] one global quota. A refused request is
// answered 429 Too Many Requests with a Retry-After header (503 when a
// distributed limiter's store is unavailable and it fails closed), or by
// HandlerConfig.Reject for an answer of your own.
//
// The limiter's Do writes the RateLimit and RateLimit-Policy headers of
// draft-ietf-httpapi-ratelimit-headers into the response
// (resilience.ResponseHeader), on the requests it admits and on those it
// refuses, where t names the same moment as Retry-After:
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// [Config.Headers] adds the legacy X-RateLimit-* fields or writes none;
// [Config.Cost] charges a request by what it costs (reading it with
// resilience.RequestFrom); [Config.DryRun] decides and reports to
// [Config.OnLimited] but refuses nothing, to try a limit on live traffic.
// Outside a Handler there is no response header and nothing is written.
// Package ratelimit/header writes those fields and parses them on the
// client side (header.ParseRateLimit, header.ParseRateLimitPolicy).
//
// # Client side: pacing and pauses
//
// Inside resilience.Transport, a Group keys by the request's host.
// When a response is 429 Too Many Requests with a wait (a Retry-After, or a
// RateLimit header with nothing remaining; see [Config.MaxPause]), the
// limiter of that host admits nothing until then — under every limit alike, rate.Inf
// and rate 0 included — but never longer than [Config.MaxPause]:
// [DefaultMaxPause], five minutes, unless set; resilience.None turns the
// pause off.
//
// # Configuration rules
//
// Every Config field follows the rule of the whole module: zero means the
// documented default, the same name means the same thing in every package,
// resilience.None says "none" where the default is not none,
// resilience.Forever says "as long as the caller's context allows", and any
// other negative value panics at construction with a "ratelimit: " message.
//
//   - MaxWait: zero (or None), the default, never waits: a call whose tokens
//     are not there is refused at once. Positive: wait up to that, never
//     past the context's deadline (a wait that would not fit is refused at
//     once). Forever: as long as the context allows.
//   - MaxQueue: how many calls may wait at once; zero means
//     [DefaultMaxQueue] (1024). It matters only with a MaxWait: a positive
//     MaxQueue without one is a contradiction and panics, as does None (no
//     queue) with a positive MaxWait.
//   - MaxPause: zero means [DefaultMaxPause]; None, no pause.
//   - MaxKeys: zero means [DefaultMaxKeys]; a Group never holds more
//     buckets than MaxKeys, nor more pauses, and holds a key longer than
//     128 bytes as its SHA-256 ("sha256:" and 64 hex digits).
//   - Cost nil charges 1 per call; Headers zero is [DraftHeaders]; Name ""
//     is "default".
//
// Every constructor takes its Config as its last argument, a plain struct:
// New(r, burst, Config{}), NewGroup(r, burst, GroupConfig{}),
// NewThrottle(ThrottleConfig{}).
//
// # Errors
//
// Every refusal is a [*LimitedError], which matches [ErrLimited] with
// errors.Is (and [ErrThrottled] for a [Throttle]), carries its [Reason]
// (read through methods: it is immutable and shared by the refusals that
// say the same, so a storm of refusals allocates nothing), tells
// when to come back through RetryAfter (so resilience.Handler sends it as
// Retry-After), gives its HTTP status through HTTPStatus, and is a local
// rejection (resilience.IsLocalRejection): the call never reached the
// dependency, so a retry policy around the limiter gives up at once
// instead of waiting out a local limit, whereas a server's own 429 (a
// resilience.StatusError) is the server's answer and is honoured. A
// refusal whose cost exceeds the burst is permanent.
//
// # Client-side throttling
//
// A [Throttle] implements the adaptive client-side throttling of Google's
// SRE book: it drops calls locally with a probability that grows as the
// backend rejects more of them, so an overloaded backend is not also
// flooded with requests it will refuse.
//
// # Bandwidth
//
// Package bandwidth (readers, writers, an HTTP handler and transport)
// limits bytes per second with a Limiter whose tokens are bytes.
//
// # Telemetry
//
// [Limiter], [Group] and [Throttle] have a Name (Config.Name, the name of
// the limit in the RateLimit headers; ThrottleConfig.Name) and return
// [Metrics] snapshots: refusals by [Reason], admitted calls where counting
// them costs nothing (Group, Throttle), tokens, pauses, keys and waiting
// calls. A Limiter's and a Throttle's come from Metrics(); a Group, like
// the Groups of breaker and bulkhead, has Metrics(key) for one key's
// bucket (tokens, quota, pause; without making the key), Range for every
// key held, and Totals for its group-wide counters. Every hook gets the context of the call
// first: [Config.OnLimited] and [ThrottleConfig.OnThrottled] (under
// resilience.Handler, resilience.RequestFrom(ctx) is the request), so a
// log line can carry the trace.
//
// # Events
//
// With [Config.Observer] (or [ThrottleConfig.Observer]) set, a limiter
// reports what it does as resilience.Events with Policy "ratelimit", Name
// its Name and Key the key of a [Group]'s bucket as the group holds it (a
// key longer than 128 bytes as its hash; "" for a Limiter and a
// Throttle), each with the call's context, on the call's goroutine and
// with no lock held:
//
//   - EventReject for each refusal that OnLimited (OnThrottled for a
//     Throttle) is told of, after it: those of Do, Wait, WaitN and Take,
//     and in dry-run the calls Do would have refused (and then ran).
//     Err is the [*LimitedError] returned, Duration how long the call
//     waited before the refusal (out a pause, after which the bucket was
//     still short; 0 for a refusal at once), and Reason the word of its
//     [Reason], as below. Allow and AllowN, which call no hook, report
//     nothing.
//   - EventWait for each call of Do, Wait or WaitN that waited for its
//     tokens, or out a pause, and then got them: Duration is how long it
//     waited. A call admitted at once is no event.
//
// The reasons of EventReject, one per [Reason]:
//
//   - "limited": ReasonRate, the bucket is short and the call could not
//     wait for its tokens.
//   - "paused": ReasonPaused, a downstream's 429 paused the limiter.
//   - "queue_full": ReasonQueueFull, MaxQueue calls wait already.
//   - "too_costly": ReasonTooCostly, the call costs more than the burst.
//   - "throttled": ReasonThrottled, a Throttle dropped the call.
//   - "unavailable": ReasonUnavailable, the store of a distributed
//     limiter (ratelimit/redis) could not decide and the limiter fails
//     closed.
//
// The limiter of ratelimit/redis reports the same events, and an
// EventStateChange when Redis becomes unavailable and when it is back.
// A limiter without an Observer pays a nil check where an event could be
// fired and reads no clock for it; with one, the events are passed by
// value, so the success path and a shared refusal allocate nothing.
//
// # Distributed limits
//
// The nested module ratelimit/redis decides with GCRA in Redis, so that
// many processes share one limit, with the same Config rules, Policy API
// and headers.
package ratelimit

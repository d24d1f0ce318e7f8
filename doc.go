// Package resilience keeps a service available when what it depends on is
// slow, failing or overloaded. This root package holds what every policy
// agrees on; the policies live in sub-packages:
//
//   - retry: retry transient failures with backoff, jitter and retry budgets
//   - breaker: stop calling a dependency that keeps failing, probe, recover
//   - bulkhead: cap concurrent calls per dependency
//   - timelimit: bound how long a call may take
//   - ratelimit: client pacing, server-side 429s, per-key quotas
//   - fallback: answer a failure with a substitute: a dummy, the last good value, an alternate call
//   - hedge: start another attempt when the first is slow; the first success wins
//   - cache: read-through cache that serves stale data when the source fails
//   - outbox: transactional outbox relayed to a message broker
//   - idempotency: server-side Idempotency-Key; a retried POST is answered, not redone
//   - chaos: fault injection to test failure modes
//
// # Policies
//
// Every policy is a [Policy]: it has a method
//
//	Do(ctx context.Context, op func(context.Context) error) error
//
// and keeps the contract written on the interface. Policies compose with
// [Chain] (the first is the outermost), carry results with the generic [Do],
// and wrap HTTP clients and servers with [Transport] and [Handler].
//
// Policies are not generic; the result of a call is held by [Do] (or by
// Transport, for a response) and reached through the context, so that a
// policy can answer with a value of its own ([Substitute], a fallback's) or
// remember a good one ([Result]). A [ConcurrentPolicy] — a hedge — may run
// several attempts of op at once; its [Race] decides whose result the caller
// gets.
//
// # Error protocols
//
// Packages agree on a few facts about errors without importing each other:
// each fact is a method, found with errors.As anywhere in the chain of
// wrapped errors, so any error type of yours can take part too.
//
//   - RetryAfter() time.Duration: when the caller may try again. Rate-limit
//     rejections, open breakers and HTTP 429/503 responses with a
//     Retry-After header have it. Retry policies wait at least that long (or
//     give up when it is longer than they may wait), and Handler sends it as
//     a Retry-After header. Read it with [RetryAfter].
//   - Permanent() bool: retrying cannot help. Retry policies return such an
//     error at once. Mark an error with [Permanent]; test with
//     [IsPermanent]. Transport marks the failures of non-idempotent
//     requests this way.
//   - HTTPStatus() int: the status [Handler] answers with when a policy
//     rejects a request (429 for rate limits, 503 for overload).
//   - LocalRejection() bool: a policy of this process refused the call
//     before it reached the dependency (an open breaker, a full bulkhead, a
//     local rate limit). Retry policies end at once on it rather than wait
//     for their own policy to let them through; a server's answer (an HTTP
//     429 or 503 with Retry-After) is not one, and is honoured. Test with
//     [IsLocalRejection].
//
// # The caller's impatience
//
// A call that ends because the caller's own context ended (its deadline
// or cancel, or a total time limit outside the policy) says nothing about
// the dependency: breakers and adaptive limits do not count it. A time
// limit inside the policy, per attempt, that expires is a failure like any
// other. Under [Handler], a handler that aborts with http.ErrAbortHandler
// is treated the same way.
//
// # Configuration
//
// Every Config of this module follows one rule: a zero field means its
// documented default, and a field name means the same thing in every
// package. [None] says "none" where the default is not (no retries), and
// [Forever] says "as long as the caller's context allows" for a wait.
// Invalid configuration and nil or typed-nil inputs panic at construction
// with a "pkg: ..." message. The whole list of conventions is in the
// repository's docs/conventions.md.
//
// # HTTP
//
// [Transport] wraps an http.RoundTripper (classify responses with
// [TransportConfig]); [Handler] wraps an http.Handler and keys requests by
// client ([HandlerConfig], package httpkey), so that per-key policies keep
// one instance per client.
//
// Keyed policies (one breaker per downstream host, one rate limit per
// customer) find their key with [KeyFrom]; set it with [WithKey].
//
// A policy that gives each attempt a context of its own (a per-attempt time
// limit) hands the cancellation of that context to its caller with
// [DeferRelease], so that what the attempt returned — the body of an HTTP
// response — stays usable after the attempt.
package resilience

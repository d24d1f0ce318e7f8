// Package retry retries operations that fail transiently, with exponential
// backoff and jitter, within the caller's deadline and a retry budget, so
// that retries hide short failures without turning an outage into a retry
// storm.
//
// A [Retry] is a resilience.Policy: wrap any call with [Retry.Do], a typed
// call with resilience.Do, or an http.Client with resilience.Transport.
//
//	r := retry.New(retry.Config{MaxRetries: 3})
//	err := r.Do(ctx, func(ctx context.Context) error { return call(ctx) })
//
// # When it retries
//
// Do calls the operation once, and again after a delay while the failure is
// worth retrying and some limit allows it. It never retries:
//
//   - after the caller's context is done;
//   - an error marked permanent (resilience.Permanent, or a
//     *backoff.PermanentError of github.com/cenkalti/backoff/v4), which
//     includes the failures resilience.Transport sees for non-idempotent
//     requests without an Idempotency-Key (TransportConfig.IdempotencyKey
//     can give them one);
//   - an error that [Config.Retryable] rejects;
//   - a panic, which propagates to the caller.
//
// Those errors come back as they are. Do gives up, returning an
// [*ExhaustedError] that matches [ErrExhausted] and wraps the last error
// (so the sentinel of that error still matches too), when
// [Config.MaxRetries] retries were made, when the backoff says stop, when
// the next attempt could not start before the caller's deadline or
// [Config.MaxElapsed], when the error asks (with a RetryAfter method, see
// resilience.RetryAfter) for a wait longer than [Config.MaxDelay] or than
// the time left, when the [Budget] refuses, and on a local rejection (see
// below). It gives up before sleeping: the caller never waits for an
// attempt that cannot happen.
//
// # A local rejection is not a server's answer
//
// A local rejection is an error for which resilience.IsLocalRejection is
// true (a LocalRejection() bool method that returns true): a policy of this
// process — an open breaker, a full bulkhead, a local rate limit — refused
// the call before it reached the dependency. Do ends at once on one,
// without waiting and after that single attempt, with [ReasonRejected],
// even when it carries a RetryAfter: waiting for the next probe of an open
// breaker would make every call of an outage as slow as the breaker is
// long to half-open (a breaker open for 10 s, within MaxDelay, would cost
// each call 10 s per retry, one open for 11 s nothing: a cliff), and the
// probe is the breaker's job. A local rejection is not a failure of the
// dependency either: it takes nothing from the Budget (no Budget.Failure).
//
// [Config.WaitOnRejection] is the opt-in: it waits for a local rejection
// that carries a RetryAfter exactly as for a server's, then retries. One
// without a RetryAfter ends the retry at once either way.
//
// A server's answer — an error without the method, or whose method says
// false, such as the resilience.StatusError of an HTTP 429 or 503 with
// Retry-After — is the dependency speaking: its failure counts for the
// Budget and its Retry-After is honoured, as below.
//
// # Delays
//
// The delay before retry n comes from the backoff (by default exponential:
// 100 ms, 200 ms, 400 ms, …), is capped by [Config.MaxDelay], and is then
// spread by [Config.Jitter] (full jitter by default) so that callers that
// failed together do not come back together.
//
// An error's Retry-After ra (at most MaxDelay, or Do gives up) raises the
// delay to at least ra, spread too: the Retry-After part becomes a random
// time in [ra, ra·(1+f)), f = [Config.RetryAfterJitter] (0.2 by default),
// never earlier than the server asked, cut short by MaxDelay and by the
// time left before the caller's deadline or the end of MaxElapsed. Do then
// waits the longer of that and the backoff delay, which keeps its own
// jitter. So 20 callers told "Retry-After: 1" at the same moment come back
// over 200 ms, not all at t = 1.000 s, where one would become the probe of
// a half-open breaker and 19 be turned away. Jitter spreads only the
// backoff: for exact waits in a test, set JitterNone and also
// RetryAfterJitter: resilience.None (or seed [Config.Rand], the source of
// both).
//
// Code that retries on its own terms can wait the same delays without Do:
// [Retry.Schedule] gives the delays of one call in turn (for a loop that
// reconnects, say), and [Retry.Delay] gives the delay before retry n when
// the count of failures is kept elsewhere (a row of a database table, as
// the relay of package outbox does). Both share Do's code, so a Retry
// configured once describes the backoff of every path.
//
// # Retry budgets
//
// Backoff slows each caller down, but during an outage every caller still
// multiplies its load by 1+MaxRetries. A [Budget] shared by every Retry
// that calls the same downstream caps retries as a whole: [TokenBudget]
// (gRPC's retry throttling) stops retrying once most recent attempts failed,
// and [RatioBudget] (Finagle's retry budget) allows retries up to a fraction
// of recent requests. A call whose budget is spent still makes its first
// attempt; it only gets no retries.
//
// # Observing
//
// [Retry.Metrics] counts the retries made, the calls given up by [Reason]
// (GaveUp[ReasonBudget] is the retries the budget refused) and the local
// rejections met. Only the slow path counts: a call whose first attempt
// succeeds still allocates nothing and costs what it did. [Config.OnRetry]
// is told of each retry with the call's context first, so a log line
// carries the call's trace, and [Config.Name] names the Retry for
// telemetry ([Retry.Name]). [Config.Observer] gets every attempt, retry
// and call as an event (below).
//
// # Events
//
// With [Config.Observer] set, a Retry reports what it does as
// resilience.Events with Policy "retry" and Name [Config.Name] (Key is
// ""), on the goroutine of Do and with no lock held:
//
//   - EventAttempt when an attempt returned: Attempt is its number (1 for
//     the first call of op), Duration how long it ran, Err its error (nil:
//     success).
//   - EventRetry when a retry is scheduled, just before the wait (and
//     after OnRetry): Attempt is the number of the attempt about to start,
//     Duration the wait before it, Err the failure being retried.
//   - EventReject with Reason "budget" when the [Budget] refuses a retry:
//     Err is the [*ExhaustedError] the caller gets (ReasonBudget). It is
//     the one refusal of a Retry's own; a local rejection of another
//     policy that ends the retry is that policy's to report.
//   - EventDone when the call ends, however it ends: Attempt is the number
//     of attempts made, Duration how long the whole call took, waits
//     included, Err what Do returns (nil: success).
//
// So a call that succeeds at once reports EventAttempt then EventDone,
// and one that succeeds on its third attempt Attempt 1, Retry 2, Attempt
// 2, Retry 3, Attempt 3, Done. A panic in op ends the call with no further
// event. The events are passed by value: a call whose first attempt
// succeeds still allocates nothing. Without an Observer nothing is
// reported, and Do reads no clock for it.
//
// # Zero values
//
// Every zero field of [Config] and [RatioConfig] means its documented
// default, as in every package of this module. Where the default is not
// "none", resilience.None says none: MaxRetries (no retry: op is called
// once), InitialDelay (retries at once), MaxDelay (no wait at all: any
// Retry-After ends the retry; InitialDelay must be None too), JitterFactor
// and RetryAfterJitter (no spread), RatioConfig.Ratio and MinPerSecond.
// MaxDelay: resilience.Forever means no cap of its own (a Retry-After is
// waited for as long as the caller's deadline allows). MaxElapsed's zero
// already means no bound, so None is not accepted there; nor for
// Multiplier (1 is a constant delay). Any other negative value, and any
// contradiction (MaxDelay below InitialDelay, default values included; a
// JitterFactor without JitterProportional; InitialDelay or Multiplier
// beside a Backoff), panics in [New] with a "retry: ..." message.
//
// # Presets
//
// [Interactive] and [Background] are starting points that follow the rule
// "immediate or regular-interval retries for interactive operations,
// exponential backoff for background ones": a person waiting gets two quick
// retries and a fast answer; a batch job gets ten retries spread over up to
// fifteen minutes.
package retry

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
//     requests;
//   - an error that [Config.Retryable] rejects;
//   - a panic, which propagates to the caller.
//
// It gives up, returning an [*ExhaustedError] that matches [ErrExhausted]
// and wraps the last error, when [Config.MaxRetries] retries were made, when
// the backoff says stop, when the next attempt could not start before the
// caller's deadline or [Config.MaxElapsed], when the error asks (with a
// RetryAfter method, see resilience.RetryAfter) for a wait longer than
// [Config.MaxDelay] or than the time left, and when the [Budget] refuses.
// It gives up before sleeping: the caller never waits for an attempt that
// cannot happen.
//
// # Delays
//
// The delay before retry n comes from the backoff (by default exponential:
// 100 ms, 200 ms, 400 ms, …), is capped by [Config.MaxDelay], and is then
// spread by [Config.Jitter] (full jitter by default) so that callers that
// failed together do not come back together. An error's Retry-After raises
// the delay to at least the wait it asks for.
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
// # Presets
//
// [Interactive] and [Background] are starting points that follow the rule
// "immediate or regular-interval retries for interactive operations,
// exponential backoff for background ones": a person waiting gets two quick
// retries and a fast answer; a batch job gets ten retries spread over up to
// fifteen minutes.
package retry

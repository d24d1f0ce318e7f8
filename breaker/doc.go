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
// with RetryAfter, and makes resilience.Handler answer 503), or [HalfOpen]
// (a few probes go through; enough successes close it, one failure opens
// it again). [Breaker.ForceOpen] and [Breaker.Disable] take manual control
// until [Breaker.Reset]. Transitions happen in the calls that notice them
// and are reported to Config.OnStateChange, outside every lock.
//
// # Trip rules
//
// A breaker opens after Config.ConsecutiveFailures failures in a row (the
// default rule), or when the failure rate or the slow-call rate reaches its
// threshold over a count window (the last N calls) or a time window (the
// last d, in buckets), once the window holds Config.MinCalls calls. Each
// outcome is a success, a failure or ignored, as Config.Classify says.
//
// # Probing
//
// After the open duration — fixed, or growing across re-opens up to a cap,
// with jitter — the breaker lets up to Config.MaxProbes calls through at a
// time. With Config.HealthCheck it probes in a goroutine of its own
// instead, so user calls never pay for a probe; [Breaker.Close] stops it.
//
// # Cost
//
// A call in the Closed state that succeeds takes no lock, allocates nothing
// and does not read the clock (unless Config.SlowCall asks to time calls);
// it increments one counter, striped over cache lines so that concurrent
// callers on different CPUs do not contend. Failures, transitions and
// Metrics do the rest of the work.
package breaker

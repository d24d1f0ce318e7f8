// Package hedge runs hedged calls: when an attempt has not answered within
// a delay, another one starts, concurrently, and the first to succeed wins;
// the others are cancelled. It cuts the tail of latency that a retry
// cannot: a retry waits for a failure, a hedge only for slowness.
//
//	h := hedge.New(hedge.Config{}) // one hedge, after the p95 of recent latency
//	user, err := resilience.Do(ctx, h, func(ctx context.Context) (User, error) {
//		return store.User(ctx, id)
//	})
//
// # When to hedge
//
// Hedge calls that may be made twice (reads, idempotent writes) to a
// dependency whose slow answers are bad luck — a garbage collection, a
// cold cache, a busy replica, a lost packet — rather than overload: a
// second attempt, sent elsewhere or later, is then likely to be fast. A
// dependency slow because it is overloaded gets slower with every hedge;
// bound the extra load with a Budget (see below), and with the delay: the
// default hedges the slowest 5 % of calls, for about 5 % more load.
//
// op must honour its context: the tail is cut when the losing attempts,
// cancelled, return at once. Do never abandons an attempt (it waits for
// every one to return, as every policy of this module does), so an op
// that ignores its context makes the call as slow as its slowest attempt.
//
// # Attempts
//
// The first attempt runs on the caller's goroutine. Each time the latest
// attempt has run for the delay without an answer, a hedge starts on a
// goroutine of its own (that of a time.AfterFunc), up to Config.MaxHedges
// (one by default). An attempt that fails with an error worth another
// attempt starts the next hedge at once, on its own goroutine, without
// waiting for the delay, and the delay of the one after counts from there. Errors that are not worth
// another attempt start none: a permanent error (resilience.Permanent, a
// backoff.PermanentError), which ends the call at once; a local rejection
// (an open breaker, a full bulkhead: resilience.IsLocalRejection); any
// error once the caller's context is done.
//
// The first success wins: Do cancels the others — their context's cause is
// [ErrLost] — waits for them to return, and returns nil. When every attempt
// failed, Do returns the error of the last to fail. A panic in any attempt
// cancels the others, waits for them, and goes on in the caller's
// goroutine with its value unchanged. Each call runs one resilience.Race,
// so that resilience.Do returns the winner's value and resilience.Transport
// the winner's response, whatever the losers returned.
//
// # Delay
//
// Config.Delay sets a fixed delay. Left at zero, the delay is adaptive: the
// Config.Quantile (0.95 by default) of the latency of recent successful
// attempts, within [Config.MinDelay, Config.MaxDelay] (1 ms and 1 s by
// default), and MaxDelay until MinSamples (20) attempts have succeeded.
// The latencies are counted in a histogram of fixed size (32 buckets per
// power of two over [MinDelay, MaxDelay]: 5.5 KiB with the defaults,
// whatever the traffic), by one atomic increment per success, with no lock
// and no allocation; the delay read from it is never below the quantile of
// the latencies recorded, and at most 3.2 % above. The histogram is two
// windows of Config.Window (1 min by default): the delay follows the last
// one to two windows, so it adapts to a change of latency within a window
// or two.
//
// Only attempts that succeeded are measured: the latency of an attempt cut
// short by a winner is not known. The adaptive delay therefore sees fewer
// slow attempts than there are, and leans low, the more so the more calls
// are hedged; the Budget and MaxHedges bound what that costs.
//
// # Where it goes in a Chain
//
//	resilience.Chain(
//		timelimit.New(2*time.Second, timelimit.Config{}), // the whole call
//		retry.New(retry.Config{Budget: budget}),
//		hedge.New(hedge.Config{Budget: budget, BudgetCountedByRetry: true}),
//		breaker.New(breaker.Config{}),
//		bulkhead.New(32, bulkhead.Config{}),
//		timelimit.New(300*time.Millisecond, timelimit.Config{}), // each attempt
//	)
//
// The retry goes outside the hedge: a hedged call that failed as a whole is
// retried as a whole, and the retry counts the caller's call once. (A hedge
// outside a retry would hedge whole retry loops.) Everything per attempt
// goes inside it: resilience.Chain runs the policies inside a concurrent
// one once per attempt, so the breaker counts every attempt the dependency
// saw (the losers, cancelled, end with context.Canceled, which breakers
// ignore), the bulkhead admits every attempt as the load it is (a hedge
// refused by a full bulkhead is a local rejection: the first attempt goes
// on alone), and the time limit bounds each attempt (one that times out
// starts the next hedge at once).
//
// # Budgets
//
// Config.Budget is a retry.Budget (retry.RatioBudget, Finagle's; or
// retry.TokenBudget, gRPC's), asked (Withdraw) before each hedge; a refusal
// means no hedge, never a failure. Share one Budget between the retry and
// the hedge of a dependency, as gRPC, Envoy and Finagle do, so that retries
// and hedges together stay within it: with a RatioBudget of ratio r, the
// extra attempts of both stay under r times the calls (plus its
// MinPerSecond).
//
// The rule that keeps a shared Budget honest is that each call is counted
// once. A Retry calls Request once per call and Success or Failure once per
// attempt; inside it, a Hedge's Do runs once per attempt of the Retry, and
// would count every retry as a new call (the ratio of a RatioBudget then
// applies to calls plus retries) and every outcome twice (a TokenBudget
// would fill and drain twice as fast). So:
//
//   - a Hedge alone with a Budget counts in it as a Retry does: Request
//     once per call, Success for each attempt that succeeded, Failure for
//     each that failed with an error worth another attempt or panicked (a
//     loser, cancelled, counts nothing), and Withdraw before each hedge;
//   - a Hedge inside a Retry that holds the same Budget is told so with
//     Config.BudgetCountedByRetry, and only calls Withdraw: the Retry counts
//     the calls and their outcomes.
//
// A TokenBudget takes nothing on Withdraw: it allows hedges while the
// dependency is healthy and none once failures have drained it, as gRPC's
// throttle does. Hedges ask the Budget sooner than retries (a delay is
// shorter than a failure), so under a shared Budget that is short, hedges
// tend to take most of it.
//
// # HTTP
//
// Under resilience.Transport a Hedge hedges only the requests that may be
// sent twice, by the rules Transport applies to retries: GET, HEAD,
// OPTIONS, TRACE, PUT and DELETE, and other methods with an
// Idempotency-Key (or X-Idempotency-Key) header, the caller's or one
// that resilience.TransportConfig.IdempotencyKey adds; for the others
// resilience.Repeatable is false and Do makes one attempt
// (Metrics.NotRepeatable). Each attempt sends the whole body again (from
// GetBody, or as buffered by Transport). The losers' requests are
// cancelled, which closes their connections if they have not answered; a
// response that came in anyway is drained (up to 64 KiB, within 100 ms)
// and closed by Transport. The winner's context lives on until its body is
// closed (resilience.DeferRelease), so the body reads after RoundTrip
// returned.
//
// # Cost
//
// A call whose first attempt answers before the delay makes no goroutine
// and takes no lock but its own call state's, which is pooled. What it
// allocates is what may outlive it or is not the Hedge's: the race of
// resilience.NewRace, a cancellable context for the attempt (2 objects),
// its timer (1), and under Transport the release of the winner's context
// (1): 6 objects at most, against failsafe-go's 24. A Hedge with MaxHedges resilience.None, and a call that
// may not be repeated, cost a plain call (with an Observer, two clock
// reads more).
//
// # Events
//
// With Config.Observer set, a Hedge reports what it does as
// resilience.Events with Policy "hedge" and Name Config.Name (Key is
// ""), with no lock held, on the goroutine that did the thing:
//
//   - EventHedge when a hedge is about to call op, just after OnHedge and
//     on the same goroutine (the Hedge's for a delay, the failed
//     attempt's for a failure): Attempt is its number (2 for the first
//     hedge), Err the failure that started it at once, nil when the
//     attempt before it was only slow.
//   - EventAttempt when an attempt returned, on the goroutine that ran it:
//     Attempt is its number (1 for the first), Duration how long it ran,
//     Err its error: nil for a success, the error of a failure, and for a
//     loser what it returned once cancelled (ErrLost for an op that
//     returns context.Cause).
//   - EventDone when the call ends, on the caller's goroutine once every
//     attempt returned: Attempt is the number of attempts made, Duration
//     how long the call took, Err what Do returns.
//
// The attempts of one call report from several goroutines at once, so the
// Observer must be safe for concurrent use, as every Observer must. Every
// EventAttempt of a call comes before its EventDone, and before Do
// returns. A hedge the Budget refused reports nothing (Metrics counts it);
// an attempt that panicked reports no EventAttempt, and its call no
// EventDone. A call made with a single attempt (MaxHedges resilience.None,
// or a request that may not be sent twice) reports EventAttempt then
// EventDone. Without an Observer nothing is reported and nothing is
// paid; with one, the events are passed by value and allocate nothing.
//
// # Configuration and telemetry
//
// [New] takes a [Config], whose every zero field means its documented
// default; invalid values panic in New with a "hedge: ..." message.
// Config.Name names the Hedge for telemetry ([Hedge.Name]), [Hedge.Metrics]
// counts its calls, hedges, wins and refusals, [Hedge.Delay] tells the
// delay in force, Config.OnHedge is called before each hedge, and
// Config.Observer gets the events above.
package hedge

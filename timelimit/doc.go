// Package timelimit bounds how long a call may take. Placed outside a retry
// policy it is the budget of the whole call; placed inside, the budget of
// each attempt:
//
//	total := resilience.Chain(timelimit.New(2*time.Second, timelimit.Config{}), retrier)
//	perAttempt := resilience.Chain(retrier, timelimit.New(300*time.Millisecond, timelimit.Config{}))
//
// and both can be combined: a total budget around a retry whose attempts
// each have a shorter one.
//
// A [TimeLimit] gives op a context that expires after the time limit and
// reports its own expiry as a [*TimeoutError], which matches both
// [ErrTimeout] and context.DeadlineExceeded; when the caller's context ends
// first, its error passes through unchanged.
//
// That context behaves as context.WithTimeoutCause's does (its Err is
// context.DeadlineExceeded, context.Cause returns the TimeoutError, the
// contexts derived from it and context.AfterFunc end with it), but it is a
// type of this package and costs less: one allocation and one clock read
// per call, where context.WithTimeout arms a timer of its own for each call
// and allocates four times. All the calls of one TimeLimit have the same
// limit, so their deadlines come in the order they start: the TimeLimit
// queues its calls in flight by deadline and keeps one timer, for the first.
// In a testing/synctest bubble, and for limits under a millisecond, it uses
// context.WithTimeoutCause itself.
//
// # Operations must honour their context
//
// Go cannot stop a goroutine from the outside, and a TimeLimit does not
// abandon op in a goroutine of its own: that would leave op running,
// holding its connections and memory, after the caller was told it failed
// (and break the rule of resilience.Policy that Do returns only after op
// returned). So the time limit works by cancelling op's context, and op must
// watch it: pass it to every call that blocks (http.NewRequestWithContext,
// database/sql's *Context methods, select on ctx.Done()). An op that ignores
// its context returns late; the TimeLimit then still reports the timeout, and
// counts the call as late and tells [Config.OnLate] (and
// [Config.Observer]), so that the bug is seen rather than hidden.
//
// Inside resilience.Transport the time limit also covers reading the
// response body, as http.Client.Timeout does: the TimeLimit hands the
// cancellation of its context to the Transport (resilience.DeferRelease),
// which runs it when the body is closed.
//
// # Errors, and what other policies make of them
//
// A [*TimeoutError] is immutable (read it with Limit and Unwrap): the one
// returned for the usual timeout, and the cause of op's context, are made
// once per TimeLimit and shared by its calls, so that a timeout allocates no
// error. It is not a local rejection (resilience.IsLocalRejection): the
// call reached the dependency, which did not answer in time.
//
// Where the TimeLimit sits tells a breaker or an adaptive bulkhead whose
// impatience ended the call. A per-attempt limit inside them,
// resilience.Chain(breaker, limit), expires while their own context is
// live: the dependency was too slow, and it counts as a failure (or a
// drop). A total limit outside them, resilience.Chain(limit, breaker),
// ends their context: like the caller's own deadline or cancel, that is
// the caller's impatience, and they ignore the call.
//
// # Events
//
// With [Config.Observer] set, a TimeLimit reports its timeouts as
// resilience.Events with Policy "timelimit" and Name [Config.Name] (Key
// is ""), on the caller's goroutine once op returned, with no lock held:
//
//   - EventTimeout when the time limit expired before op returned:
//     Duration is the limit, Err the [*TimeoutError] Do returns.
//   - EventLate, before that EventTimeout, when op returned more than
//     Config.Grace after the limit: Duration is how long after the limit
//     it returned.
//
// A call that ends in time, or by the caller's own deadline or cancel,
// reports nothing, and without an Observer a timeout costs nothing more.
//
// # Configuration and telemetry
//
// [New] takes the time limit and a [Config], whose every zero field means
// its documented default: Grace 0 is [DefaultGrace]; resilience.None says
// no grace at all; Name (for telemetry, [TimeLimit.Name]) is ""; no
// Observer reports nothing. Other negative values, a time limit that is
// not positive, and an Observer that is a typed nil, panic in [New] with
// a "timelimit: ..." message. [TimeLimit.Metrics] counts the timeouts and
// the late calls.
package timelimit

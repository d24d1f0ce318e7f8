// Package fallback answers a failed call with a substitute instead of its
// error: a dummy value ("fail silently"), the last good value ("best
// effort", stale), or the outcome of an alternate call (a secondary
// endpoint, a cache).
//
//	rates := fallback.New(fallback.Value(Rates{}), fallback.Config{Stale: time.Hour})
//	p := resilience.Chain(rates, retrier, breaker)
//	r, err := resilience.Do(ctx, p, fetchRates) // the last good rates while the breaker is open
//
// # How the substitute reaches the caller
//
// Policies are not generic: a [Fallback] answers through the call that
// holds the result. resilience.Do[T] holds a value of type T (and
// resilience.Transport a *http.Response): when op fails, the Fallback
// hands its substitute to that call with resilience.Substitute and returns
// nil, and resilience.Do returns the substitute with a nil error. With
// Stale it reads op's good values with resilience.Result after op returned
// nil. Its type parameter is the type of the substitute — a Fallback[Rates]
// answers for a resilience.Do[Rates] — and the Fallback is still a plain
// resilience.Policy, in a Chain with any other. That reads as what it is,
// keeps the compiler checking the substitute's type against sub, and needs
// nothing generic on any other policy.
//
// A Fallback that finds no such call in its context — plain Policy.Do, or
// resilience.Do of another type — cannot answer, and says so: Do returns an
// error matching [ErrNoResult] and op's error, never a success without a
// value. [NewFunc] is the form for plain Policy.Do, whose alternate call
// delivers its own result.
//
// # Where it goes in a Chain
//
// Outermost, usually, and outside every policy whose failures it answers:
//
//	resilience.Chain(fallback, timelimit /* whole call */, retrier, breaker, bulkhead, timelimit /* per attempt */)
//
// The reasons, one per policy:
//
//   - Outside the retry, so that it answers what is left once the retries
//     gave up; inside, a substitute would end every call at its first
//     failure.
//   - Outside the breaker and the bulkhead, so that their rejections are
//     answered, at once — that is the point — and so that a substitute is
//     not counted as the dependency's success: a breaker outside would
//     never see the outage.
//   - Outside a time limit for the whole call: a time limit outside the
//     Fallback reports its timeout even when the Fallback answered.
//   - Outside a hedge (a resilience.ConcurrentPolicy), so that it answers
//     the hedge's outcome, and because what it remembers (Stale) is the
//     value of the call, which inside a race is not decided until the race
//     is: a Fallback with Stale must not run inside a hedge.
//
// # What it answers
//
// Config.Match says which failures are answered; by default
// ([DefaultMatch]) every error but those of a caller that gave up — whose
// context is done by its own cancel or deadline (resilience.CallerDone):
// nobody waits for the substitute then, and it would tell a cancelled
// caller that its call succeeded. Local rejections (an open breaker, a
// full bulkhead, a local rate limit) and time limits set by a policy
// (package timelimit) are answered. A panic in op is never answered: it
// goes on to the caller unchanged. An http.Client's Timeout is the
// caller's deadline (it ends the request's context), so its expiry is not
// answered: to answer slow responses, put a timelimit inside the Fallback.
//
// # Stale values
//
// With Config.Stale a Fallback remembers the last good value of each key
// (resilience.KeyFrom by default), at most Config.MaxKeys of them, keys
// bounded in bytes, the least recently used dropped first, and answers a
// failure with it while it is no older than Stale; sub runs only when there
// is none. Only op's own values are remembered, never a substitute. The
// success path then stores the value: a map lookup and a list move under a
// mutex, and no allocation once the key is held (a new key allocates its
// entry). Without Stale, the success path is the call of op and a
// comparison: nothing allocated, nothing counted.
//
// # HTTP
//
// [NewHTTP] is the Fallback of resilience.Transport. It answers with a
// response made by a function of the request and the failure (a dummy
// response: [StaticResponse]; an alternate call), or with the last good
// response of that request (GET and HEAD only), replayed with a body of its
// own each time and marked with Age and Warning: 110 headers. Good
// responses are copied as the caller reads them, so remembering them adds
// no wait; see [HTTPConfig] for which ones, and the bounds in bytes.
//
// # Events
//
// With Config.Observer (HTTPConfig.Observer) set, a Fallback reports each
// failure that Match accepted, once it answered it, as one
// resilience.Event of kind EventFallback with Policy "fallback" and Name
// Config.Name (Key is ""), on the caller's goroutine (for NewHTTP, that of
// the round trip) just after OnFallback, with no lock held and before Do
// returns. Err is op's error: the failure answered. Reason is how it was
// answered, the [Kind] in snake_case:
//
//   - "value": with sub's value (respond's response), or by alt, which
//     succeeded (KindValue);
//   - "stale": with the last good value of the call's key, or the last
//     good response of the request (KindStale);
//   - "failed": sub, alt or respond failed, and Do returned a
//     [*SubstituteError] (KindFailed);
//   - "no_value": nothing to answer with, and Do returned op's error
//     (KindNoValue);
//   - "no_result": no call to answer into, and Do returned an error
//     matching [ErrNoResult] (KindNoResult).
//
// A success of op, a failure that Match turned down (by default, a caller
// that gave up) and a panic report nothing. Without an Observer nothing
// is reported and nothing is paid; with one, the event is passed by value
// and allocates nothing.
//
// # Configuration and telemetry
//
// [New], [NewFunc] and [NewHTTP] take a [Config] (an [HTTPConfig]) whose
// zero fields mean their documented defaults. Invalid values panic with a
// "fallback: ..." message. [Fallback.Metrics] counts the failures and how
// each was answered ([Kind]); Config.OnFallback is told of each answer,
// and Config.Observer gets it as an event (above); [Fallback.Name] is
// Config.Name.
package fallback

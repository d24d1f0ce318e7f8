// Package chaos injects faults — errors, latency, HTTP statuses, network
// errors, broken bodies, panics — into calls, HTTP clients and HTTP servers,
// so that tests can prove a service survives the failures it will meet.
//
// # Where faults go
//
// An [Injector] holds a list of [Fault]s and applies them in three places:
//
//   - as a resilience.Policy ([Injector.Do], made with [Policy]): around any
//     call, composed with resilience.Chain beside retries, breakers and time
//     limits;
//   - as an http.RoundTripper ([Transport]): a dependency that misbehaves,
//     under the client policies you test;
//   - as an http.Handler ([Handler]): a server that misbehaves, for the
//     clients that call it, or your handler failing, for the middleware
//     around it.
//
// # What and when
//
// A Fault says what happens to a call and which calls get it:
//
//	chaos.Fault{
//		Match:  chaos.Method("GET"),                  // which requests
//		When:   chaos.First(3),                       // which of them
//		Delay:  chaos.Fixed(200 * time.Millisecond),  // wait first
//		Action: chaos.Status(503, "Retry-After", "1"), // then answer
//	}
//
// Actions: [Error], [Status], [Hang], the network errors [ConnReset],
// [ConnRefused], [EOF] and [DialTimeout] (the values net returns, so error
// classification sees what it sees in production), the body faults
// [SlowBody], [TruncateBody] and [BodyError], and [Panic]. Delays: [Fixed],
// [Uniform], [Exponential], or a function of yours.
//
// Conditions ([Condition]): matchers ([Method], [Host], [Path],
// [PathPrefix], [Header], [Key]), scripts ([First], [Every], [Script],
// [Cycle]), an injection [Rate], a window of time ([Between]), and [All],
// [Any], [Not] to combine them.
//
// # Deterministic, in virtual time
//
// Nothing is left to chance that a test cannot replay: a Rate or a random
// delay draws from a sequence fixed by its seed, scripts count calls, and
// windows and delays read the clock through time.Now and timers. Inside a
// testing/synctest bubble the clock is virtual, so a test of a one-minute
// outage with backoff takes no real time and sees exact instants:
//
//	synctest.Test(t, func(t *testing.T) {
//		rec := &chaos.Recorder{}
//		inj := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{
//			When: chaos.First(2), Action: chaos.Status(503, "Retry-After", "1"),
//		})
//		client := &http.Client{Transport: resilience.Transport(inj.Transport(fake), retrier)}
//		// ... call client, then:
//		require.Equal(t, []time.Duration{time.Second, time.Second}, rec.Gaps())
//	})
//
// Real sockets do not advance virtual time: inside a bubble, give Transport
// a fake next RoundTripper, such as [InProcess], which serves an
// http.Handler without a socket, and serve Handler with InProcess or an
// httptest.ResponseRecorder.
//
// Delays and hangs wait on a timer and the call's context, in the calling
// goroutine: the package starts no goroutine, and a cancelled context ends
// every wait at once with the context's error.
//
// # Configuration
//
// As everywhere in this module (docs/conventions.md), a zero field of
// [Config] means its documented default: the zero Config is an enabled
// injector that records nothing and calls no hook. Arguments out of range
// (a Status code outside 200-599, a negative delay, a nil error or
// handler, a fault with neither Delay nor Action) panic at construction
// with a "chaos: ..." message, never at the first call. Zero arguments
// mean what their doc says: Exponential's limit of zero is 20 times the
// mean; TruncateBody(0) cuts the whole body.
//
// # What the wrappers pass on
//
// The RoundTripper of Transport forwards CloseIdleConnections to next, so
// http.Client.CloseIdleConnections closes the connections of the
// transport underneath; it forwards nothing else (the deprecated
// CancelRequest is replaced by the request's context). InProcess holds no
// connection. The ResponseWriter that Handler passes to next keeps
// http.ResponseController working (it has Unwrap) and offers the optional
// interfaces handlers look for: http.Flusher, http.Pusher, io.ReaderFrom
// (so sendfile still serves files under a Recorder) and io.StringWriter.
//
// # Observing
//
// A [Recorder] keeps every call an injector sees (start and end time,
// request, outcome, faults injected) so a test can assert how many attempts
// were made and how far apart. [Injector.Metrics] counts calls and faults by [Kind],
// and Config.OnInject reports each one as it happens.
//
// # Events
//
// With Config.Observer set, an injector reports each fault it injects as
// a resilience.Event of kind EventInject, with Policy "chaos", Name
// [Injector.Name] and Key "" (the Call's key is what conditions match, not
// a Group's), the call's context (the ctx of Do, the request's for
// Transport and Handler), on the call's goroutine, with no lock held and
// before the fault takes effect. Its Reason is the [Kind] of the fault,
// Kind.String() in snake_case: "latency" (a Delay), "error", "status",
// "hang", "conn_reset", "conn_refused", "eof", "dial_timeout",
// "slow_body", "truncate_body", "body_error" and "panic". A call slowed by
// a Delay and then failed is two events, "latency" first. Calls with no
// fault, and a disabled injector, report nothing; an injector without an
// Observer pays one nil check per fault injected.
//
// # In production
//
// An Injector made with Config.Disabled does nothing until
// [Injector.SetEnabled] switches it on, an atomic flag that a running
// service can flip from an admin endpoint for a game day, and off again.
//
// The testing guide, docs/testing.md in the repository, shows how to test
// client and server code against each failure mode.
package chaos

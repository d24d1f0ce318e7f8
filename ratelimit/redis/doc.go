// Package redis is a distributed rate limiter on Redis: GCRA in one Lua
// script per decision, using the Redis server's clock, with the same
// Policy, keyed API and Config rules as package ratelimit. Under
// resilience.Handler it limits each client across every process and
// writes the RateLimit headers, as ratelimit.Group does. The constructor
// takes its Config as a plain argument, New(client, r, burst, Config{});
// a Limiter has a Name and Metrics (admitted and refused calls, Redis
// outages), and its hooks get the call's context first.
//
// # Events
//
// With an Observer in the Config (GroupConfig.Config.Observer), a Limiter
// reports the events of package ratelimit (see its "# Events" section),
// with Policy "ratelimit", Name [Limiter.Name] and Key the key as held (a
// key longer than 128 bytes as its hash), each on the goroutine of the
// call, with its context and no lock held:
//
//   - EventReject for each refusal OnLimited is told of, after it: Err is
//     the *ratelimit.LimitedError, Reason the word of its Reason
//     ("limited", "paused", "queue_full", "too_costly", and "unavailable"
//     for a refusal of FailClosed while Redis is unavailable), Duration 0
//     (a call waits only once its tokens are reserved).
//   - EventWait for each call that waited for its tokens and got them:
//     Duration is how long it waited. Under FailLocal the waits of the
//     local fallback that New makes are reported too (and its refusals
//     once, as the Limiter's).
//   - EventStateChange, with Key "", when Redis becomes unavailable (From
//     "available", To "unavailable", Err the failure) and when it is back
//     (From "unavailable", To "available"), after OnStateChange and with
//     the context it gets.
package redis

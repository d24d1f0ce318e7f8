// Package ratelimit throttles calls: client-side pacing of calls to a
// downstream, server-side rejection with 429 Too Many Requests, per-key
// quotas with tiers, adaptive client-side throttling, and bandwidth limits.
//
// # Limiters
//
// A [Limiter] is one token bucket, built on golang.org/x/time/rate: New(10,
// 20) admits 10 calls per second on average with bursts of 20 (rates are
// rate.Limit values, calls per second; rate.Every converts an interval).
// A [Keyed] limiter keeps one bucket per key — customer, API key, client
// address or downstream host — with tiers chosen by
// [KeyedConfig.LimitFor], and bounded memory without a janitor goroutine.
// Both are resilience.Policy values whose Do either runs the operation,
// waits for a token up to [Config.MaxWait] (optionally with a bound on
// waiting callers), or rejects the call with a [*LimitedError]: it matches
// [ErrLimited], says when to come back through RetryAfter, and a
// resilience.Handler answers it with 429 and Retry-After.
//
// On the client side, a limiter in a resilience.Transport also obeys the
// downstream: when a response is 429 Too Many Requests with a Retry-After
// header, the limiter of that host admits nothing until then.
//
// An [Adaptive] throttle implements the client-side throttling of Google's
// SRE book: it drops calls locally with a probability that grows as the
// backend rejects more of them, so an overloaded backend is not also
// flooded with requests it will refuse.
//
// # HTTP servers
//
// [Handler] is middleware for a server: each request takes a cost from the
// bucket of its key ([httpkey.ClientIP], trusting forwarding headers only from
// configured proxies, or [httpkey.Header]); refusals get 429 with Retry-After,
// and every answer carries the RateLimit and RateLimit-Policy headers of
// the IETF draft (optionally the legacy X-RateLimit-* fields too). A
// dry-run mode only reports. [ParseRateLimit] and [ParseRateLimitPolicy]
// read those headers on the client side.
//
// # Bandwidth
//
// [Reader], [Writer], [BandwidthHandler] and [BandwidthTransport] limit
// bytes per second with a Limiter whose tokens are bytes.
//
// # Distributed limits
//
// The nested module ratelimit/redis decides with GCRA in Redis, so that
// many processes share one limit, with the same [Taker] and Policy API.
package ratelimit

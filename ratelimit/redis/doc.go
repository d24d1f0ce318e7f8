// Package redis is a distributed rate limiter on Redis: GCRA in one Lua
// script per decision, using the Redis server's clock, with the same
// Policy, keyed API and Config rules as package ratelimit. Under
// resilience.Handler it limits each client across every process and
// writes the RateLimit headers, as ratelimit.Group does. The constructor
// takes its Config as a plain argument, New(client, r, burst, Config{});
// a Limiter has a Name and Metrics (admitted and refused calls, Redis
// outages), and its hooks get the call's context first.
package redis

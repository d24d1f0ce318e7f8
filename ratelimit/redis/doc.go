// Package redis is a distributed rate limiter on Redis: GCRA in one Lua
// script per decision, using the Redis server's clock, with the same
// Policy, keyed API and Config rules as package ratelimit. Under
// resilience.Handler it limits each client across every process and
// writes the RateLimit headers, as ratelimit.Keyed does.
package redis

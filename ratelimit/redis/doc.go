// Package redis is a distributed rate limiter on Redis: GCRA in one Lua
// script per decision, using the Redis server's clock, with the same Policy
// and keyed API as package ratelimit.
package redis

// Package ratelimit throttles calls: client-side pacing of calls to a
// downstream, server-side rejection with 429 Too Many Requests, per-key
// quotas, and bandwidth limits.
package ratelimit

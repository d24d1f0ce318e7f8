// Package retry retries operations that fail transiently, with exponential
// backoff and jitter, within the caller's deadline and a retry budget, so
// that retries hide short failures without turning an outage into a retry
// storm.
package retry

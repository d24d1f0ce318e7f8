// Package idempotency honours Idempotency-Key on the server: a request that
// is retried with the key of one already executed is answered with the
// stored outcome, not executed again.
package idempotency

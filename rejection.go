package resilience

import (
	"context"

	"github.com/resiliencekit/resilience/internal/errs"
)

// IsLocalRejection reports whether err, or an error it wraps, says that a
// policy of this process refused the call before it reached the dependency:
// an open breaker, a full bulkhead, a local rate limit, a client-side
// throttle. The protocol is a method
//
//	LocalRejection() bool
//
// that returns true; the rejections of every package of this module have
// it, and any error type of yours can join without importing this package.
//
// A local rejection is not the dependency's answer. Retry policies end at
// once on one (waiting it out is an opt-in), whereas a server's answer —
// an HTTP 429 or 503 with Retry-After, see [StatusError] — is honoured.
func IsLocalRejection(err error) bool {
	r, ok := errs.As[interface{ LocalRejection() bool }](err)
	return ok && r.LocalRejection()
}

// CallerDone reports whether ctx is done because of the caller — its cancel
// or its own deadline — rather than because a time limit that a policy set
// expired. Breakers and adaptive limits use it to tell the caller's
// impatience, which says nothing about the dependency, from a policy's
// time limit, which does: an expired time limit (per attempt, or for the
// whole call) is the dependency being too slow.
//
// A policy's time limit is recognised by the cause of the context (see
// context.Cause), which has a method
//
//	PolicyDeadline() bool
//
// returning true; the contexts of package timelimit carry such a cause.
// CallerDone returns false while ctx is not done.
func CallerDone(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	p, ok := errs.As[interface{ PolicyDeadline() bool }](context.Cause(ctx))
	return !ok || !p.PolicyDeadline()
}

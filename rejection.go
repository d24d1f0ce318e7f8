package resilience

import (
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

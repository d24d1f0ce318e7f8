package ratelimit

import (
	"fmt"
	"time"
)

// Config holds the optional settings of a [Limiter] (and, embedded in
// [KeyedConfig], of a [Keyed] limiter). The zero value is the default:
// reject at once when no token is there, pause on a downstream's 429.
type Config struct {
	// MaxWait is how long a call of Do or Wait may wait for its tokens.
	// Zero, the default, rejects a call at once when its tokens are not
	// there (drop). A positive MaxWait queues it instead, as long as the
	// wait fits in MaxWait and in the deadline of the call's context
	// (queue); otherwise the call is rejected at once with the wait it
	// would have needed as RetryAfter. Negative values panic.
	MaxWait time.Duration

	// MaxWaiters bounds how many calls may wait at once (queue up to a
	// bound, then drop). Zero means no bound; it matters only when MaxWait
	// is positive. Negative values panic.
	MaxWaiters int

	// IgnoreRetryAfter turns off the client-side pause: by default, when
	// the operation run by Do fails with a 429 Too Many Requests that
	// carries a wait (a *resilience.StatusError from resilience.Transport,
	// with a Retry-After header or a RateLimit header showing no quota
	// left), the limiter admits nothing more for that key until the wait is
	// over.
	IgnoreRetryAfter bool

	// Name names the limit in the RateLimit and RateLimit-Policy headers
	// that [Handler] writes; "" means "default". For a [Keyed] limiter it is
	// the name of the default limit; tiers carry their own Limit.Name.
	Name string

	// OnLimited, if not nil, is called with each rejection made by Do,
	// Wait, WaitN or Take (not Allow), after the decision, with no lock
	// held. It must be safe for concurrent use and should return quickly.
	OnLimited func(err *LimitedError)
}

func (c Config) check() {
	if c.MaxWait < 0 {
		panic(fmt.Sprintf("ratelimit: negative MaxWait %v", c.MaxWait))
	}
	if c.MaxWaiters < 0 {
		panic(fmt.Sprintf("ratelimit: negative MaxWaiters %d", c.MaxWaiters))
	}
}

func oneConfig[C any](cfgs []C) C {
	var c C
	switch len(cfgs) {
	case 0:
	case 1:
		c = cfgs[0]
	default:
		panic("ratelimit: at most one Config")
	}
	return c
}

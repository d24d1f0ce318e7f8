// Package pause tells, from the error of a call, how long a downstream
// asked the caller to hold off: what the limiters of package ratelimit and
// ratelimit/redis pause for.
package pause

import (
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/errs"
	"github.com/resiliencekit/resilience/ratelimit/header"
)

// FromError reports how long a downstream asked the caller to hold off,
// judging by the error of a call: an answer 429 Too Many Requests that
// carries a wait. That is a *resilience.StatusError with code 429 (as
// resilience.Transport returns) whose Retry-After, or failing that whose
// RateLimit header with no quota remaining, gives the wait; or any other
// error with HTTPStatus() 429 and a RetryAfter, except a local rejection
// (resilience.IsLocalRejection: a limiter nested inside the call is not
// the downstream). The limiters of package ratelimit and of ratelimit/redis
// pause on it, for at most their Config.MaxPause.
func FromError(err error) (time.Duration, bool) {
	if err == nil || resilience.IsLocalRejection(err) {
		return 0, false
	}
	if se, ok := errs.As[*resilience.StatusError](err); ok {
		if se.Code != http.StatusTooManyRequests {
			return 0, false
		}
		if se.Wait > 0 {
			return se.Wait, true
		}
		if se.Response != nil {
			return pauseFromHeader(se.Response.Header)
		}
		return 0, false
	}
	if hs, ok := errs.As[interface{ HTTPStatus() int }](err); ok && hs.HTTPStatus() == http.StatusTooManyRequests {
		return resilience.RetryAfter(err)
	}
	return 0, false
}

// pauseFromHeader reads the RateLimit header of a 429 answer without
// Retry-After: the longest reset of the quotas with nothing remaining.
func pauseFromHeader(h http.Header) (time.Duration, bool) {
	var longest time.Duration
	for _, v := range h.Values("RateLimit") {
		items, err := header.ParseRateLimit(v)
		if err != nil {
			continue
		}
		for _, it := range items {
			if it.Remaining == 0 && it.Reset > longest {
				longest = it.Reset
			}
		}
	}
	if longest > resilience.MaxRetryAfter {
		longest = resilience.MaxRetryAfter
	}
	return longest, longest > 0
}

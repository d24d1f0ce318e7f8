package ratelimit

import (
	"errors"
	"net/http"
	"time"

	"github.com/resiliencekit/resilience"
)

// Pushback reports how long a downstream asked the caller to hold off,
// judging by the error of a call: an answer 429 Too Many Requests that
// carries a wait. That is a *resilience.StatusError with code 429 (as
// resilience.Transport returns) whose Retry-After, or failing that whose
// RateLimit header with no quota remaining, gives the wait; or any other
// error with HTTPStatus() 429 and a RetryAfter, except this package's own
// rejections (a limiter nested inside the call is not the downstream).
// The limiters of this package and of ratelimit/redis pause on it.
func Pushback(err error) (time.Duration, bool) {
	var se *resilience.StatusError
	if errors.As(err, &se) {
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
	var le *LimitedError
	if errors.As(err, &le) {
		return 0, false
	}
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) && hs.HTTPStatus() == http.StatusTooManyRequests {
		return resilience.RetryAfter(err)
	}
	return 0, false
}

// pauseFromHeader reads the RateLimit header of a 429 answer without
// Retry-After: the longest reset of the quotas with nothing remaining.
func pauseFromHeader(h http.Header) (time.Duration, bool) {
	var longest time.Duration
	for _, v := range h.Values("RateLimit") {
		items, err := ParseRateLimit(v)
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

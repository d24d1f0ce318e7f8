package resilience

import (
	"fmt"
	"net/http"
	"time"
)

// StatusError is the failure a policy sees when an HTTP exchange completed
// but its status says the call failed.
//
// On the client side ([Transport]) it is returned for the responses that
// TransportConfig.Failure calls failed — by default 408, 429, 500, 502, 503
// and 504 — and carries the response, whose body is still unread. Transport gives that response to its
// caller with a nil error when it is the final outcome, so callers of an
// http.Client see ordinary responses and never a StatusError. On the server
// side ([Handler]) it is the failure recorded for a handler that wrote a 5xx
// status; Response is nil there.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Wait is the parsed Retry-After header of the response (see
	// ParseRetryAfter): on the client side only where
	// TransportConfig.HonorRetryAfter says it counts (by default on 429 and
	// 503). 0 means no wait was asked for.
	Wait time.Duration
	// Response is the response on the client side, nil on the server side.
	// Its body is owned by Transport: do not read or close it in a policy.
	Response *http.Response
}

// Error returns a message such as "resilience: HTTP 503 Service Unavailable".
func (e *StatusError) Error() string {
	return fmt.Sprintf("resilience: HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// RetryAfter returns the wait the server asked for with Retry-After, or 0.
// It makes StatusError part of the RetryAfter protocol (see [RetryAfter]).
func (e *StatusError) RetryAfter() time.Duration { return e.Wait }

// retryableStatus reports whether a response status means the request
// failed for a reason that may pass: the statuses Transport turns into a
// StatusError.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

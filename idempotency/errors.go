package idempotency

import (
	"errors"
	"net/http"
	"time"
)

// The answers to requests that are not executed. Handler answers each with
// the status of its HTTPStatus method and a problem+json body (RFC 9457)
// whose type links to the error's documentation; Do returns them.
var (
	// ErrInProgress: an execution of the key is in progress (409 Conflict,
	// Retry-After: 1). Retry later, with the same key.
	ErrInProgress error = &answer{"idempotency: key in progress", http.StatusConflict, "ErrInProgress",
		"A request with this idempotency key is being processed; retry later with the same key.", time.Second}
	// ErrMismatch: the key was first sent with another request (422
	// Unprocessable Content). A key names one request: make a new key for
	// a new request.
	ErrMismatch error = &answer{"idempotency: key reused with another request", http.StatusUnprocessableEntity, "ErrMismatch",
		"This idempotency key was sent with a different request; use a new key for a new request.", 0}
	// ErrKeyRequired: the route requires a key and the request has none
	// (400 Bad Request).
	ErrKeyRequired error = &answer{"idempotency: key required", http.StatusBadRequest, "ErrKeyRequired",
		"This operation requires an Idempotency-Key header.", 0}
	// ErrInvalidKey: the key is empty, too long, sent twice, or has bytes
	// outside the grammar of draft-ietf-httpapi-idempotency-key-header (a
	// Structured Field string) (400 Bad Request).
	ErrInvalidKey error = &answer{"idempotency: invalid key", http.StatusBadRequest, "ErrInvalidKey",
		"The Idempotency-Key header must be one string of printable ASCII characters, at most the configured length.", 0}
	// ErrNotKept: the key was executed, but its outcome was too large to
	// store (409 Conflict). Executing it again could repeat its effect, so
	// it is not.
	ErrNotKept error = &answer{"idempotency: key executed, outcome not kept", http.StatusConflict, "ErrNotKept",
		"A request with this idempotency key was executed, but its response was too large to keep; it is not executed again.", 0}
	// ErrRequestTooLarge: the body is longer than Config.MaxRequestBytes
	// (413 Content Too Large).
	ErrRequestTooLarge error = &answer{"idempotency: request body too large to fingerprint", http.StatusRequestEntityTooLarge, "ErrRequestTooLarge",
		"The request body is longer than this server fingerprints for idempotency keys.", 0}
	// ErrUnavailable: the store failed, so the key could not be checked
	// and nothing was executed (503 Service Unavailable, Retry-After: 1).
	// Errors returned for it match both ErrUnavailable and the store's
	// error.
	ErrUnavailable error = &answer{"idempotency: store unavailable", http.StatusServiceUnavailable, "ErrUnavailable",
		"Idempotency keys cannot be checked right now; nothing was executed. Retry later with the same key.", time.Second}
)

// answer is an error with the HTTP answer that goes with it. Its values are
// shared and have no exported fields.
type answer struct {
	msg    string
	status int
	name   string // of the exported variable, for the problem type
	detail string
	after  time.Duration
}

func (a *answer) Error() string { return a.msg }

// HTTPStatus returns the status Handler answers with.
func (a *answer) HTTPStatus() int { return a.status }

// RetryAfter returns when the caller may try again with the same key, or
// 0 when it should not.
func (a *answer) RetryAfter() time.Duration { return a.after }

// storeError is a store's failure to acquire a key: it matches
// ErrUnavailable and wraps the store's error.
type storeError struct{ err error }

func (e *storeError) Error() string { return "idempotency: store unavailable: " + e.err.Error() }
func (e *storeError) Unwrap() []error {
	return []error{ErrUnavailable, e.err}
}

// HTTPStatus returns 503: nothing was executed.
func (e *storeError) HTTPStatus() int { return http.StatusServiceUnavailable }

// RetryAfter returns one second.
func (e *storeError) RetryAfter() time.Duration { return time.Second }

func asAnswer(err error) *answer {
	var a *answer
	if errors.As(err, &a) {
		return a
	}
	return ErrUnavailable.(*answer)
}

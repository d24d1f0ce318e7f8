package resilience

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DeadlineHeader is the request header that carries how long the caller
// will wait for the answer, in whole milliseconds (decimal digits only):
// [Transport] sends it when TransportConfig.SendDeadline is set, and
// [Handler] applies it when HandlerConfig.Deadline is set. It is a
// duration, not an instant, so that the two machines' clocks need not
// agree; the time the request spends on the way is the server's margin
// (DeadlineConfig.Margin).
const DeadlineHeader = "Request-Timeout-Ms"

// ErrDeadlineTooShort is the error (matched with errors.Is) of a request
// that [Handler] refused at once because the time its caller said it
// would wait, less DeadlineConfig.Margin, is below DeadlineConfig.MinLeft:
// the caller would be gone before the answer came. Handler answers it
// with 503 Service Unavailable, without a Retry-After.
var ErrDeadlineTooShort = errors.New("resilience: the caller's deadline leaves too little time")

// ErrInvalidDeadline is the error (matched with errors.Is) of a request
// whose DeadlineHeader is not a number of milliseconds (decimal digits,
// at most 12 of them, one value). Handler answers it with 400 Bad Request.
var ErrInvalidDeadline = errors.New("resilience: invalid " + DeadlineHeader + " header")

// DefaultMaxDeadline is the longest wait a caller may claim when
// DeadlineConfig.Max is 0.
const DefaultMaxDeadline = time.Hour

// DeadlineConfig says how [Handler] applies the deadline its callers send
// in DeadlineHeader. The request's context, which the policies and the
// handler get, then ends at the earlier of its own deadline (if any) and
// the caller's, less Margin: a caller's deadline never extends the
// server's. A request without the header, or from a peer that Trust
// refuses, keeps its context as it is. Every zero field means its
// documented default; negative durations panic in [NewHandler].
type DeadlineConfig struct {
	// Margin is taken off the caller's time before it is applied: the
	// answer's way back to the caller, and the caller's own work after it.
	// Zero means none.
	Margin time.Duration

	// MinLeft is the least time a request must have left, after Margin,
	// for the handler to start it: a request with less is answered 503 at
	// once ([ErrDeadlineTooShort]). Zero refuses only a request with no
	// time left at all.
	MinLeft time.Duration

	// Max bounds the time a caller may claim; a larger value counts as
	// Max. Zero means DefaultMaxDeadline (an hour).
	Max time.Duration

	// Trust, when not nil, reports whether the request comes from a peer
	// whose deadline the server takes (its own services, say, by address
	// or by a verified identity); the header of any other request is
	// ignored, malformed or not. Nil takes every request's.
	Trust func(r *http.Request) bool
}

// check panics on an invalid configuration and fills in the defaults.
func (c *DeadlineConfig) check() {
	switch {
	case c.Margin < 0:
		panic(fmt.Sprintf("resilience: negative DeadlineConfig.Margin %v", c.Margin))
	case c.MinLeft < 0:
		panic(fmt.Sprintf("resilience: negative DeadlineConfig.MinLeft %v", c.MinLeft))
	case c.Max < 0:
		panic(fmt.Sprintf("resilience: negative DeadlineConfig.Max %v", c.Max))
	case c.Max == 0:
		c.Max = DefaultMaxDeadline
	}
}

// maxDeadlineDigits bounds the header's length: 12 digits of milliseconds
// are over 31 years, far above any Max, and far below an overflow.
const maxDeadlineDigits = 12

// ParseDeadline parses the value of a DeadlineHeader: whole milliseconds,
// decimal digits only. It returns [ErrInvalidDeadline] for anything else
// (a sign, a fraction, a unit, spaces, more than 12 digits).
func ParseDeadline(v string) (time.Duration, error) {
	if v == "" || len(v) > maxDeadlineDigits {
		return 0, ErrInvalidDeadline
	}
	var ms int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, ErrInvalidDeadline
		}
		ms = ms*10 + int64(c-'0')
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// deadlineError is a request refused for its caller's deadline.
type deadlineError struct {
	err       error // ErrDeadlineTooShort or ErrInvalidDeadline
	left, min time.Duration
	value     string // the malformed value
}

func (e *deadlineError) Error() string {
	if e.err == ErrInvalidDeadline {
		return fmt.Sprintf("%v: %q", e.err, e.value)
	}
	return fmt.Sprintf("%v: %v left, at least %v needed", e.err, e.left, e.min)
}

func (e *deadlineError) Is(target error) bool { return target == e.err }

// HTTPStatus returns 400 for a malformed header, 503 for too little time.
func (e *deadlineError) HTTPStatus() int {
	if e.err == ErrInvalidDeadline {
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// LocalRejection returns true: the server refused the request before any
// policy or the handler ran.
func (e *deadlineError) LocalRejection() bool { return true }

// Permanent returns true: the same request will be refused again (it has
// less time, or the same bad header).
func (e *deadlineError) Permanent() bool { return true }

// apply applies the caller's deadline of r to ctx, as c says. It
// returns ctx unchanged (and a nil cancel) when r carries none, or a
// *deadlineError when r is to be refused.
func (c *DeadlineConfig) apply(ctx context.Context, r *http.Request) (context.Context, context.CancelFunc, error) {
	vs, ok := r.Header[DeadlineHeader]
	if !ok || c.Trust != nil && !c.Trust(r) {
		return ctx, nil, nil
	}
	// Several header lines must all say the same.
	for _, v := range vs[1:] {
		if v != vs[0] {
			return ctx, nil, &deadlineError{err: ErrInvalidDeadline, value: v}
		}
	}
	d, err := ParseDeadline(vs[0])
	if err != nil {
		return ctx, nil, &deadlineError{err: ErrInvalidDeadline, value: vs[0]}
	}
	left := min(d, c.Max) - c.Margin
	if left <= 0 || left < c.MinLeft {
		return ctx, nil, &deadlineError{err: ErrDeadlineTooShort, left: max(left, 0), min: c.MinLeft}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= left {
		return ctx, nil, nil // the server's own deadline comes first
	}
	ctx, cancel := context.WithTimeout(ctx, left)
	return ctx, cancel, nil
}

// sendDeadline sets the DeadlineHeader of r, an attempt's request, to the
// time left until the deadline of ctx, the attempt's context; a smaller
// value the caller set on the request stays. A context without a deadline
// sends nothing.
func sendDeadline(ctx context.Context, r *http.Request) {
	dl, ok := ctx.Deadline()
	if !ok {
		return
	}
	ms := max(time.Until(dl).Milliseconds(), 0)
	if vs := r.Header[DeadlineHeader]; len(vs) == 1 {
		if theirs, err := ParseDeadline(vs[0]); err == nil && theirs.Milliseconds() <= ms {
			return
		}
	}
	if r.Header == nil {
		r.Header = make(http.Header, 1)
	}
	r.Header[DeadlineHeader] = []string{strconv.FormatInt(ms, 10)}
}

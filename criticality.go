package resilience

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Criticality is how much a call matters when there is not room for every
// call: the classes of Google's load shedding, from the calls to drop
// first to the calls to keep. The zero value is DefaultCriticality, so a
// call nobody classified is neither favoured nor dropped first; higher
// values matter more, so criticalities compare with < and >.
//
// A call's criticality travels in its context ([WithCriticality],
// [CriticalityFrom]); [Transport] sends it to the next service in
// CriticalityHeader when TransportConfig.SendCriticality is set, and
// [Handler] reads it from there when HandlerConfig.Criticality is set, so
// that it follows a request across services.
type Criticality int8

const (
	// Sheddable calls go first when there is not room: prefetches,
	// batch work, retries the user does not wait for.
	Sheddable Criticality = -1
	// DefaultCriticality is the criticality of a call nobody classified.
	DefaultCriticality Criticality = 0
	// Critical calls go last: the answers a user waits for.
	Critical Criticality = 1
)

// CriticalityHeader is the request header that carries a call's
// criticality between services: "sheddable", "default" or "critical".
const CriticalityHeader = "Request-Criticality"

// ErrInvalidCriticality is the error (matched with errors.Is) of a
// criticality that is none of "sheddable", "default" and "critical".
// [Handler] answers a request whose CriticalityHeader says so with 400 Bad
// Request.
var ErrInvalidCriticality = errors.New("resilience: invalid criticality")

// String returns "sheddable", "default" or "critical", the names
// CriticalityHeader uses, or "Criticality(n)" for another value.
func (c Criticality) String() string {
	switch c {
	case Sheddable:
		return "sheddable"
	case DefaultCriticality:
		return "default"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("Criticality(%d)", int(c))
}

// ParseCriticality returns the criticality named s ("sheddable",
// "default" or "critical", in any case), or [ErrInvalidCriticality].
func ParseCriticality(s string) (Criticality, error) {
	switch {
	case strings.EqualFold(s, "sheddable"):
		return Sheddable, nil
	case strings.EqualFold(s, "default"):
		return DefaultCriticality, nil
	case strings.EqualFold(s, "critical"):
		return Critical, nil
	}
	return DefaultCriticality, fmt.Errorf("%w: %q", ErrInvalidCriticality, s)
}

type criticalityKey struct{}

// WithCriticality returns a copy of ctx that carries c as the criticality
// of the calls made with it. It panics on a value that is not one of the
// three criticalities.
func WithCriticality(ctx context.Context, c Criticality) context.Context {
	if c < Sheddable || c > Critical {
		panic(fmt.Sprintf("resilience: WithCriticality with %v", c))
	}
	return context.WithValue(ctx, criticalityKey{}, c)
}

// CriticalityFrom returns the criticality ctx carries, and whether it
// carries one; DefaultCriticality, false when it carries none.
func CriticalityFrom(ctx context.Context) (Criticality, bool) {
	c, ok := ctx.Value(criticalityKey{}).(Criticality)
	return c, ok
}

// CriticalityConfig says how [Handler] reads the criticality its callers
// send in CriticalityHeader. A request that carries a valid one has it in
// its context ([CriticalityFrom]) for the policies and the handler — and
// for the calls the handler makes with that context, which [Transport]
// passes on. A request without the header, or from a peer Trust refuses,
// has its context as it is.
type CriticalityConfig struct {
	// Trust, when not nil, reports whether the request comes from a peer
	// whose criticality the server takes; the header of any other request
	// is ignored, malformed or not. Nil takes every request's.
	Trust func(r *http.Request) bool

	// Max is the highest criticality a caller may claim: a higher claim
	// counts as Max. Zero is DefaultCriticality, so set it to Critical to
	// let callers claim Critical (the zero value lets them say only that a
	// request is sheddable).
	Max Criticality
}

// apply reads the criticality of r into ctx, as c says. It returns an
// error matching ErrInvalidCriticality for a malformed header.
func (c *CriticalityConfig) apply(ctx context.Context, r *http.Request) (context.Context, error) {
	vs, ok := r.Header[CriticalityHeader]
	if !ok || c.Trust != nil && !c.Trust(r) {
		return ctx, nil
	}
	for _, v := range vs[1:] {
		if !strings.EqualFold(v, vs[0]) {
			return ctx, &criticalityError{err: fmt.Errorf("%w: %q and %q", ErrInvalidCriticality, vs[0], v)}
		}
	}
	crit, err := ParseCriticality(vs[0])
	if err != nil {
		return ctx, &criticalityError{err: err}
	}
	return context.WithValue(ctx, criticalityKey{}, min(crit, c.Max)), nil
}

// criticalityError is a request refused for a malformed criticality.
type criticalityError struct{ err error }

func (e *criticalityError) Error() string   { return e.err.Error() }
func (e *criticalityError) Unwrap() error   { return e.err }
func (e *criticalityError) HTTPStatus() int { return http.StatusBadRequest }
func (e *criticalityError) Permanent() bool { return true }

// LocalRejection returns true: the server refused the request before any
// policy or the handler ran.
func (e *criticalityError) LocalRejection() bool { return true }

// sendCriticality sets the CriticalityHeader of r, an attempt's request,
// to the criticality ctx carries; a context without one sends nothing
// (a header the caller set stays).
func sendCriticality(ctx context.Context, r *http.Request) {
	c, ok := CriticalityFrom(ctx)
	if !ok {
		return
	}
	if r.Header == nil {
		r.Header = make(http.Header, 1)
	}
	r.Header[CriticalityHeader] = []string{c.String()}
}

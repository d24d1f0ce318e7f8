package resilience

import (
	"context"
	"net/http"
)

type keyCtx struct{}

// keyed is the one context value of this package: the key of a call and,
// under Handler, the request being served and the header of its response.
// One value for all three keeps KeyFrom a single lookup and Handler's
// context a single allocation.
type keyed struct {
	key    string
	req    *http.Request
	header http.Header
}

// WithKey returns a copy of ctx that carries key. Keyed policies (a breaker,
// bulkhead or rate limiter per downstream host or per customer) read it with
// [KeyFrom] to pick their instance. [Transport] sets the key to the request's
// host unless the caller already set one; [Handler] sets it to the client's
// (see [HandlerConfig]).
func WithKey(ctx context.Context, key string) context.Context {
	k := &keyed{key: key}
	if parent, ok := ctx.Value(keyCtx{}).(*keyed); ok {
		k.req, k.header = parent.req, parent.header
	}
	return context.WithValue(ctx, keyCtx{}, k)
}

// KeyFrom returns the key set by [WithKey], or "" when there is none.
func KeyFrom(ctx context.Context) string {
	if k, ok := ctx.Value(keyCtx{}).(*keyed); ok {
		return k.key
	}
	return ""
}

// RequestFrom returns the HTTP request that the policies ctx was passed to
// run for: the one [Transport] is sending (the caller's request, before the
// copy each attempt sends), or else the one [Handler] is serving; nil
// outside both.
func RequestFrom(ctx context.Context) *http.Request {
	if rt, ok := ctx.Value(callKey{}).(*roundTrip); ok {
		return rt.req
	}
	if k, ok := ctx.Value(keyCtx{}).(*keyed); ok {
		return k.req
	}
	return nil
}

// ResponseHeader returns the header map of the response that [Handler] is
// writing for the request that ctx was passed to the policies with, or nil
// outside a Handler. A policy may set headers in it before it runs its op
// (the handler may still change them) or before it rejects the request
// (they are sent with the rejection).
func ResponseHeader(ctx context.Context) http.Header {
	if k, ok := ctx.Value(keyCtx{}).(*keyed); ok {
		return k.header
	}
	return nil
}

package resilience

import "context"

type keyCtx struct{}

// WithKey returns a copy of ctx that carries key. Keyed policies (a breaker,
// bulkhead or rate limiter per downstream host or per customer) read it with
// [KeyFrom] to pick their instance. [Transport] sets the key to the request's
// host unless the caller already set one.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyFrom returns the key set by [WithKey], or "" when there is none.
func KeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}

// Package bytelimit hands package bandwidth the token bucket inside a
// *ratelimit.Limiter, whose tokens it spends as bytes, without an exported
// accessor on the Limiter. Package ratelimit sets Of when it is
// initialised (bandwidth imports ratelimit, so that happens first).
package bytelimit

import "golang.org/x/time/rate"

// Of returns the rate.Limiter of l, a *ratelimit.Limiter.
var Of func(l any) *rate.Limiter

// Package cache is a read-through cache that keeps data close to the
// service: it coalesces concurrent loads of a key and serves stale values
// when the source of the data fails.
package cache

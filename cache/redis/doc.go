// Package redis makes Redis a shared second cache level for package cache
// across the replicas of a service, with invalidation over Redis pub/sub.
package redis

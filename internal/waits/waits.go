// Package waits holds the rule of the MaxWait and MaxQueue fields that
// every package with a queue of waiting calls follows (bulkhead, ratelimit,
// ratelimit/redis), so that the fields mean the same everywhere and an
// invalid value panics with the same message.
package waits

import (
	"fmt"
	"time"
)

// DefaultMaxQueue is the bound on waiting calls when MaxQueue is 0.
const DefaultMaxQueue = 1024

// none is resilience.None (this package cannot import the root package,
// which its users sit beside).
const none = -1

// Resolve applies the rule, panicking with a message prefixed pkg on an
// invalid value, and returns how long a call may wait (0: never;
// math.MaxInt64, resilience.Forever: as long as its context allows) and how
// many calls may wait at once (positive exactly when the wait is):
//
//   - MaxWait: 0 (or None) never waits; positive waits up to that;
//     resilience.Forever waits as long as the context allows.
//   - MaxQueue: 0 means DefaultMaxQueue; positive bounds the waiting calls;
//     both need a MaxWait that is not zero. None (no queue) is accepted
//     without a MaxWait, where it changes nothing, and panics with one,
//     where no call could wait.
//
// Any other negative value panics.
func Resolve(pkg string, maxWait time.Duration, maxQueue int) (wait time.Duration, queue int) {
	switch {
	case maxWait == none:
	case maxWait < 0:
		panic(fmt.Sprintf("%s: negative MaxWait %v (0 never waits, resilience.Forever waits as long as the context allows)", pkg, maxWait))
	default:
		wait = maxWait
	}
	switch {
	case maxQueue > 0 && wait == 0:
		panic(fmt.Sprintf("%s: MaxQueue %d without MaxWait: a call that may not wait never queues; set MaxWait (resilience.Forever to wait as long as the caller's context allows)", pkg, maxQueue))
	case maxQueue == none && wait > 0:
		panic(fmt.Sprintf("%s: MaxQueue None with MaxWait %v: no call could wait; leave MaxWait 0 to never wait", pkg, wait))
	case maxQueue < 0 && maxQueue != none:
		panic(fmt.Sprintf("%s: negative MaxQueue %d", pkg, maxQueue))
	case wait == 0:
	case maxQueue == 0:
		queue = DefaultMaxQueue
	default:
		queue = maxQueue
	}
	return wait, queue
}

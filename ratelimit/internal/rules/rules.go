// Package rules holds the configuration rules that package ratelimit and
// the nested module ratelimit/redis share, so that a field means the same
// in both and an invalid one panics with the same message.
package rules

import (
	"fmt"
	"math"
	"time"
)

// The defaults of the fields these rules resolve.
const (
	// DefaultMaxQueue is the bound on waiting calls when MaxQueue is 0.
	DefaultMaxQueue = 1024
	// DefaultMaxPause caps the pause after a downstream's 429 when
	// MaxPause is 0.
	DefaultMaxPause = 5 * time.Minute
	// None is resilience.None.
	None = -1
	// Inf is rate.Inf, the rate that admits everything.
	Inf = math.MaxFloat64
)

// Waits are MaxWait, MaxQueue and MaxPause resolved.
type Waits struct {
	// MaxWait is how long a call may wait for its tokens: 0 never,
	// math.MaxInt64 as long as its context allows.
	MaxWait time.Duration
	// MaxQueue bounds the waiting calls; it is positive when MaxWait is.
	MaxQueue int64
	// MaxPause caps the pause after a downstream's 429; 0 means no pause.
	MaxPause time.Duration
}

// ResolveWaits applies the rules of the MaxWait, MaxQueue and MaxPause
// fields, panicking with a message prefixed pkg on invalid values:
//
//   - MaxWait: 0 (or None) never waits; positive waits up to that;
//     resilience.Forever waits as long as the context allows.
//   - MaxQueue: 0 means DefaultMaxQueue; positive bounds the waiting
//     calls; both need a MaxWait that is not zero, as does None (no
//     queue), which without a MaxWait is accepted and changes nothing.
//   - MaxPause: 0 means DefaultMaxPause; None turns the pause off.
//
// Any other negative value panics.
func ResolveWaits(pkg string, maxWait time.Duration, maxQueue int, maxPause time.Duration) Waits {
	var w Waits
	switch {
	case maxWait == None:
	case maxWait < 0:
		panic(fmt.Sprintf("%s: negative MaxWait %v (0 never waits, resilience.Forever waits as long as the context allows)", pkg, maxWait))
	default:
		w.MaxWait = maxWait
	}
	switch {
	case maxQueue > 0 && w.MaxWait == 0:
		panic(fmt.Sprintf("%s: MaxQueue %d without MaxWait: a call that may not wait never queues; set MaxWait", pkg, maxQueue))
	case maxQueue == None && w.MaxWait > 0:
		panic(fmt.Sprintf("%s: MaxQueue None with MaxWait %v: no call could wait; leave MaxWait 0 to never wait", pkg, w.MaxWait))
	case maxQueue < 0 && maxQueue != None:
		panic(fmt.Sprintf("%s: negative MaxQueue %d", pkg, maxQueue))
	case w.MaxWait == 0:
	case maxQueue == 0:
		w.MaxQueue = DefaultMaxQueue
	default:
		w.MaxQueue = int64(maxQueue)
	}
	switch {
	case maxPause == 0:
		w.MaxPause = DefaultMaxPause
	case maxPause == None:
	case maxPause < 0:
		panic(fmt.Sprintf("%s: negative MaxPause %v (0 means the default, resilience.None no pause)", pkg, maxPause))
	default:
		w.MaxPause = maxPause
	}
	return w
}

// CheckLimit panics, with a message prefixed pkg, unless r and burst make a
// usable bucket: r is not negative, NaN or +Inf (rate.Inf says "no limit"),
// and burst is at least 1 unless r is rate.Inf (a bucket of 0 tokens
// refuses every call). zeroRate says whether a rate of 0 (a bucket that
// never refills) is allowed. who names the limit in the message ("" for
// the limit given to the constructor, or e.g. "QuotaFor").
func CheckLimit(pkg string, r float64, burst int, zeroRate bool, who, key string) {
	var why string
	switch {
	case math.IsNaN(r) || r < 0:
		why = "the rate must be >= 0"
	case math.IsInf(r, 1):
		why = "a rate of +Inf: use rate.Inf for no limit"
	case r == 0 && !zeroRate:
		why = "a rate of 0 never refills its bucket, which would have to be kept in Redis for ever; use a small positive rate, such as rate.Every(24*time.Hour)"
	case burst < 0 || burst == 0 && r != Inf:
		why = "the burst must be >= 1 (a bucket of 0 tokens refuses every call)"
	default:
		return
	}
	if who != "" {
		panic(fmt.Sprintf("%s: %s(%q) returned an invalid limit: rate %v, burst %d: %s", pkg, who, key, r, burst, why))
	}
	panic(fmt.Sprintf("%s: invalid limit: rate %v, burst %d: %s", pkg, r, burst, why))
}

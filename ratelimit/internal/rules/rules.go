// Package rules holds the configuration rules that package ratelimit and
// the nested module ratelimit/redis share, so that a field means the same
// in both and an invalid one panics with the same message.
package rules

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/waits"
)

// The defaults of the fields these rules resolve.
const (
	// DefaultMaxQueue is the bound on waiting calls when MaxQueue is 0.
	DefaultMaxQueue = waits.DefaultMaxQueue
	// DefaultMaxPause caps the pause after a downstream's 429 when
	// MaxPause is 0.
	DefaultMaxPause = 5 * time.Minute
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

// ResolveWaits applies the rule of MaxWait and MaxQueue that every queue of
// this module follows (internal/waits), and that of MaxPause: 0 means
// DefaultMaxPause, None turns the pause off. It panics with a message
// prefixed pkg on invalid values.
func ResolveWaits(pkg string, maxWait time.Duration, maxQueue int, maxPause time.Duration) Waits {
	var w Waits
	var q int
	w.MaxWait, q = waits.Resolve(pkg, maxWait, maxQueue)
	w.MaxQueue = int64(q)
	switch {
	case maxPause == 0:
		w.MaxPause = DefaultMaxPause
	case maxPause == resilience.None:
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
	case burst < 0 || burst == 0 && r != float64(rate.Inf):
		why = "the burst must be >= 1 (a bucket of 0 tokens refuses every call)"
	default:
		return
	}
	if who != "" {
		panic(fmt.Sprintf("%s: %s(%q) returned an invalid limit: rate %v, burst %d: %s", pkg, who, key, r, burst, why))
	}
	panic(fmt.Sprintf("%s: invalid limit: rate %v, burst %d: %s", pkg, r, burst, why))
}

// EventReason returns the Event.Reason word of a refusal of reason r (a
// ratelimit.Reason): "limited" (ReasonRate), "paused", "queue_full",
// "too_costly", "throttled" and "unavailable", in the order of the
// Reason constants.
func EventReason(r uint8) string {
	switch r {
	case 0:
		return "limited"
	case 1:
		return "paused"
	case 2:
		return "queue_full"
	case 3:
		return "too_costly"
	case 4:
		return "throttled"
	case 5:
		return "unavailable"
	}
	return "limited"
}

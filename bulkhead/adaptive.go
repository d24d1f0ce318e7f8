package bulkhead

import (
	"fmt"
	"time"
)

// Algorithm makes the adaptive limit of one bulkhead. Set it as
// [Config.Adaptive]; [AIMD] and [Gradient] are the algorithms this package
// provides, and any type with this method can be used. A [Group] calls
// NewLimit once per key.
type Algorithm interface {
	// NewLimit returns a new limit for a bulkhead of maxConcurrent, which
	// is the upper bound of the limit. It panics if the algorithm's
	// settings are invalid.
	NewLimit(maxConcurrent int) Limit
}

// Limit is the adaptive concurrency limit of one bulkhead. The bulkhead
// reads Value once when it is made, then reports each finished call to
// Observe — but for the calls that say nothing about the dependency (see
// [Config.Dropped]: a caller's deadline or cancel is no sample) — and
// admits as many calls as the value returned, bounded to
// [1, maxConcurrent]. Observe is called concurrently, after op returned and
// while the call still holds its permit; it must be safe for concurrent use
// and fast, as it runs on every call.
type Limit interface {
	// Value returns the current limit.
	Value() int
	// Observe records one finished call and returns the new limit.
	Observe(s Sample) int
}

// Sample is what a bulkhead reports to its [Limit] about one finished
// call.
type Sample struct {
	// Start is when the call got its permit and op was called.
	Start time.Time
	// Latency is how long op ran.
	Latency time.Duration
	// InFlight is the number of calls holding a permit when this call got
	// its own, this one included.
	InFlight int
	// Dropped reports that the call failed in a way that says the
	// dependency is overloaded (see [Config.Dropped]).
	Dropped bool
}

// End returns when the call finished: Start + Latency.
func (s Sample) End() time.Time { return s.Start.Add(s.Latency) }

// bounds checks the shared settings of the algorithms and returns the
// starting limit.
func bounds(name string, minLimit, initial, maxConcurrent int) (lo, start int) {
	switch {
	case maxConcurrent < 1:
		panic(fmt.Sprintf("bulkhead: %s: maxConcurrent %d is less than 1", name, maxConcurrent))
	case minLimit < 0:
		panic(fmt.Sprintf("bulkhead: %s: negative Min %d", name, minLimit))
	case minLimit > maxConcurrent:
		panic(fmt.Sprintf("bulkhead: %s: Min %d is above maxConcurrent %d", name, minLimit, maxConcurrent))
	case initial < 0:
		panic(fmt.Sprintf("bulkhead: %s: negative Initial %d", name, initial))
	case initial > maxConcurrent:
		panic(fmt.Sprintf("bulkhead: %s: Initial %d is above maxConcurrent %d", name, initial, maxConcurrent))
	}
	lo = max(minLimit, 1)
	start = maxConcurrent
	if initial > 0 {
		start = max(initial, lo)
	}
	return lo, start
}

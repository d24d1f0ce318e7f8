package breaker

import "fmt"

// State is the state of a [Breaker]. The zero value is [Closed].
type State uint8

const (
	// Closed: calls go through and their outcomes are counted.
	Closed State = iota
	// Open: calls are rejected with an error matching ErrOpen until the
	// open duration has passed.
	Open
	// HalfOpen: a few probe calls go through (Config.MaxProbes at a
	// time), or the health check runs; the others are rejected. Enough
	// successful probes close the breaker, one failure opens it again.
	HalfOpen
	// ForcedOpen: [Breaker.ForceOpen] isolated the dependency. Every call
	// is rejected until [Breaker.Reset].
	ForcedOpen
	// Disabled: [Breaker.Disable] turned the breaker off. Every call goes
	// through and is still measured (see [Breaker.Metrics]), but nothing
	// opens the breaker until [Breaker.Reset].
	Disabled
)

// String returns "closed", "open", "half-open", "forced-open" or
// "disabled".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case ForcedOpen:
		return "forced-open"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

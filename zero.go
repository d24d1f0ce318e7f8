package resilience

import (
	"math"
	"time"
)

// Every Config of this module follows one rule for its fields: a zero field
// means the documented default of that field, and the same field name has the
// same meaning and the same default in every package. Where a field's default
// is not "none", the constant None says "none"; where "as long as the
// caller's context allows" is a meaningful wait, Forever says it.
const (
	// None, given to a count, duration or factor field of a Config whose
	// default is not zero, means zero of it: retry.Config{MaxRetries: None}
	// makes no retry. It is an untyped constant, so it fits int, float64
	// and time.Duration fields alike.
	None = -1

	// Forever, given to a wait (such as MaxWait), means "as long as the
	// caller's context allows": no bound of the policy's own.
	Forever time.Duration = math.MaxInt64
)

package ratelimit

import (
	"sync/atomic"
	"time"
)

// Metrics is a snapshot of the counters and the state of a [Limiter], a
// [Group] or a [Throttle] (their Metrics methods; a Group's group-wide
// counters are its Totals), for telemetry.
// Counters count from the making of the limiter; each type fills the
// fields that apply to it and leaves the others zero. Counting costs the
// success path nothing: Refused is counted where a call is refused, and
// Admitted only where the decision already holds a lock.
type Metrics struct {
	// Admitted counts the calls admitted: by a Group, those of a
	// finite quota (a rate.Inf quota takes no lock, and its calls are not
	// counted unless they waited out a pause); by a Throttle, the calls it
	// let through. A Limiter leaves it 0: its success path is the one lock
	// of rate.Limiter, and a counter would be a second atomic operation.
	Admitted uint64

	// Refused counts the refusals, indexed by their Reason:
	// Refused[ReasonRate], Refused[ReasonPaused] and so on. They are the
	// refusals reported to Config.OnLimited (of Do, Wait, WaitN and Take;
	// in dry-run, the calls Do would have refused), and the calls a
	// Throttle dropped (Refused[ReasonThrottled]). Allow and AllowN, which
	// call no hook, are not counted.
	Refused [ReasonUnavailable + 1]uint64

	// Waiting is how many calls wait for their tokens now.
	Waiting int

	// Tokens is how many tokens the bucket of a Limiter, or of one key
	// of a Group ([Group.Metrics], [Group.Range]), holds now (negative
	// while waiting calls have reserved more than there is).
	Tokens float64
	// Paused is how long the pause of a Limiter, or of one key of a
	// Group, lasts from now; 0 when it is not paused.
	Paused time.Duration
	// Quota is the quota of one key of a Group ([Group.Metrics],
	// [Group.Range]): its tier, or the default.
	Quota Quota

	// Keys is how many keys a Group holds (see [Group.Len]), in
	// [Group.Totals].
	Keys int
	// Pauses is how many keys of a Group have a pause recorded
	// (some may have ended and not yet been swept).
	Pauses int

	// Requests and Accepts are what a Throttle counts over its window:
	// the calls of Do, and those the backend accepted.
	Requests, Accepts int
	// Probability is the probability with which a Throttle drops the next
	// call.
	Probability float64
}

// refusalCounter counts refusals by Reason; it is updated only on the
// paths that refuse.
type refusalCounter [ReasonUnavailable + 1]atomic.Uint64

func (c *refusalCounter) add(r Reason) {
	if int(r) < len(c) {
		c[r].Add(1)
	}
}

func (c *refusalCounter) snapshot() (r [ReasonUnavailable + 1]uint64) {
	for i := range c {
		r[i] = c[i].Load()
	}
	return r
}

package retry

import "sync/atomic"

// Metrics counts what a [Retry] has done since it was made (see
// [Retry.Metrics]). Only the slow path counts: a call whose first attempt
// succeeds counts nothing, so the counters cost the success path nothing.
type Metrics struct {
	// Retries counts the retries made: the attempts after the first of
	// each call.
	Retries uint64
	// GaveUp counts the calls Do gave up on, returning an [*ExhaustedError],
	// indexed by its Reason: GaveUp[ReasonMaxRetries] the calls that used
	// every retry, GaveUp[ReasonBudget] the retries the Budget refused
	// (each ends its call), GaveUp[ReasonRejected] the calls ended by a
	// local rejection, and so on. GaveUp[0] is always zero. Calls that end
	// with an error Do does not retry (permanent, rejected by Retryable,
	// the caller's context done) are not counted here.
	GaveUp [ReasonRejected + 1]uint64
	// LocalRejections counts the attempts that failed with a local
	// rejection (resilience.IsLocalRejection): those Do ended on (also in
	// GaveUp[ReasonRejected]) and those it waited for under
	// Config.WaitOnRejection.
	LocalRejections uint64
}

// stats holds the counters of a Retry, in an allocation of their own so
// that their writes do not share a cache line with the fields Do reads.
type stats struct {
	retries         atomic.Uint64
	localRejections atomic.Uint64
	gaveUp          [ReasonRejected + 1]atomic.Uint64
}

// Metrics returns the counters of r. They are read one by one, not as one
// atomic snapshot: under concurrent calls, two of them may be a call apart.
func (r *Retry) Metrics() Metrics {
	m := Metrics{
		Retries:         r.stats.retries.Load(),
		LocalRejections: r.stats.localRejections.Load(),
	}
	for i := range m.GaveUp {
		m.GaveUp[i] = r.stats.gaveUp[i].Load()
	}
	return m
}

// Name returns Config.Name: the name of r for telemetry.
func (r *Retry) Name() string { return r.name }

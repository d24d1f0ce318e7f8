// Package bulkhead caps the number of concurrent calls to a dependency, so
// that one slow dependency cannot take every goroutine, connection and byte
// of memory of the process with it.
//
// A [Bulkhead] admits up to a limit of calls at once. A call that finds
// every permit taken waits in a bounded queue (first in, first out by
// default, or last in, first out to serve the newest callers under
// overload) or, with no queue, is refused at once with an error matching
// [ErrFull]. The limit is either fixed or adaptive: with [Config.Adaptive]
// it follows the latency measured on each call ([AIMD], [Gradient]), so
// that under overload the bulkhead admits about as many calls as the
// dependency can serve, where a fixed limit set too high lets queues and
// latency grow without bound.
//
// A [Group] keeps one bulkhead per key (see resilience.WithKey), for
// example per downstream host, with a bound on how many keys it remembers.
//
// The success path of Do is one atomic compare-and-swap to take a permit
// and one atomic add to give it back, on a share of the permits kept per
// CPU, so that calls on different CPUs do not contend: it takes no lock and
// allocates nothing, and the limit stays exact. Locks are taken only by
// calls that have to queue and by the calls that hand their permit to a
// waiter. An adaptive limit adds two clock readings and the limit's own
// bookkeeping to each call.
//
// Both types are resilience.Policy values: put them in a resilience.Chain,
// a resilience.Transport (where a Group keeps one bulkhead per host) or a
// resilience.Handler (where a full bulkhead answers 503 Service
// Unavailable).
package bulkhead

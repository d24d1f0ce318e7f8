// Package bulkhead caps the number of concurrent calls to a dependency, so
// that one slow dependency cannot take every goroutine, connection and byte
// of memory of the process with it.
//
// A [Bulkhead] admits up to a limit of calls at once. By default a call
// that finds every permit taken is refused at once with a [*FullError]
// matching [ErrFull]. With [Config.MaxWait] it may wait for a permit in a
// bounded queue (first in, first out by default, last in, first out to
// serve the newest callers under overload, or [AdaptiveLIFO]: FIFO until
// the queue stays busy). Queued calls are served by criticality first
// (resilience.WithCriticality, which resilience.Handler reads from the
// caller's request): a full queue sheds its Sheddable calls before the
// others, and the Critical ones last. Without a queue (MaxWait 0) a call
// that finds the bulkhead full is refused whatever its criticality;
// [Config.Reserve] keeps permits that sheddable calls may not take. The
// limit is either fixed or
// adaptive: with [Config.Adaptive] it follows the latency measured on each
// call ([AIMD], [Gradient]), so that under overload the bulkhead admits
// about as many calls as the dependency can serve, where a fixed limit set
// too high lets queues and latency grow without bound.
//
// A [Group] keeps one bulkhead per key (see resilience.WithKey), for
// example per downstream host. It has the shape of every per-key group of
// this module (breaker.Group, ratelimit.Group): a [GroupConfig] with the
// per-key Config, ConfigFor, MaxKeys, IdleTimeout and Key, and the methods
// Do, Get, Len, Metrics, Range and Name. It holds at most MaxKeys
// bulkheads under keys of at most 128 bytes (a longer key is held as its
// SHA-256), drops idle ones when new keys need room, and never drops a
// busy one (a call in flight or queued).
//
// [New] and [NewGroup] take the limit and a [Config] (a [GroupConfig]),
// whose zero value is ready to use. Config.Name names the bulkhead for
// telemetry ([Bulkhead.Name]); every key's bulkhead of a Group carries the
// group's name. [Bulkhead.Metrics] and [Group.Metrics] (per key) are
// snapshots of the counters, and the hooks OnReject and OnLimit, like
// Config.Observer (see Events), get the context of the call they are
// about.
//
// # Waiting
//
// Config.MaxWait and Config.MaxQueue mean what they mean in every package
// of this module, and their zero value is the default:
//
//   - MaxWait 0 (or resilience.None): never wait; a call that finds no
//     permit is refused at once.
//   - MaxWait d > 0: wait up to d, and never past the caller's context: a
//     caller whose context ends first leaves the queue with ctx.Err().
//   - MaxWait resilience.Forever: wait as long as the caller's context
//     allows.
//   - MaxQueue bounds how many calls wait at once; 0 means
//     [DefaultMaxQueue] (1024), resilience.None that no call waits. It
//     only matters with MaxWait: MaxQueue set without MaxWait panics in
//     [New], and so do negative values other than resilience.None.
//
// # What adaptive limits measure
//
// The caller's impatience is not the dependency's failure. A failed call
// is not reported to the adaptive limit at all — neither a drop nor a
// latency sample — when the ctx given to Do is done by the caller's own
// doing as op returns (its deadline or cancel: resilience.CallerDone),
// when op's error matches context.Canceled, or when it is a local
// rejection (resilience.IsLocalRejection: a breaker, rate limit or
// bulkhead inside this one refused the call). These are left out before
// Config.Dropped is asked. A time limit that a policy set — per attempt
// inside the bulkhead, or for the whole call outside it — is the
// dependency being too slow: its expiry is reported and by default counts
// as a drop. A success is always a sample, even one that came back after
// the caller gave up. A call whose op panics is not reported.
//
// So give the dependency a time budget of your own, with package
// timelimit, for its expiry to tell an overloaded dependency:
//
//	resilience.Chain(
//		bulkhead.New(100, bulkhead.Config{Adaptive: bulkhead.Gradient{}}),
//		timelimit.New(250*time.Millisecond, timelimit.Config{}),
//	)
//
// Under overload, when every call runs into the caller's own deadline
// instead, the limit sees no sample at all and stays where it was.
//
// # Errors
//
// Every refusal — on arrival, after MaxWait, pushed out of a LIFO queue,
// or by a Group holding MaxKeys busy bulkheads — is a [*FullError]: it
// matches [ErrFull], is a local rejection (retry policies give up at once
// on it, and breakers and adaptive limits outside the bulkhead do not
// count it), and makes resilience.Handler answer 503. A FullError is
// immutable (its fields are read with methods), so the bulkhead can hand
// the same one to every call it refuses on arrival and refusing allocates
// nothing.
//
// # Events
//
// With Config.Observer set, a bulkhead reports what it does as
// resilience.Events with Policy "bulkhead", Name [Bulkhead.Name] and Key
// the key of a Group's bulkhead as the group holds it (a long one as its
// hash; "" outside a Group), each with the context of the call it is
// about, on that call's goroutine and with no lock held:
//
//   - EventReject for every call refused, after OnReject: Err is the
//     [*FullError] returned, Duration how long the call waited in the
//     queue before the refusal (its Waited; 0 on arrival), and Reason
//     says why, as below.
//   - EventWait for every call that queued and then got a permit, before
//     op runs: Duration is how long it waited. A call that finds a permit
//     at once is no event.
//   - EventLimit when an adaptive limit changes, after OnLimit: Count is
//     the new limit. As with OnLimit, concurrent changes may be reported
//     out of order.
//
// The reasons of EventReject:
//
//   - "full": refused on arrival, every permit taken and no room to wait
//     (MaxWait is zero, or the queue is full of calls to be served
//     first).
//   - "reserved": a Sheddable call refused on arrival because the
//     permits left are those Config.Reserve keeps for the others.
//   - "timeout": the call queued and MaxWait passed before it got a
//     permit.
//   - "shed": the call queued and gave its place in a full queue up to a
//     newcomer to be served before it (a more critical call; in LIFO
//     order, a newer one).
//   - "too_many_keys": a Group holds MaxKeys busy bulkheads and none for
//     the call's key ([FullError.TooManyKeys]).
//
// A call whose context ends while it waits returns ctx.Err() and is no
// event: the caller gave up, the bulkhead refused nothing. A bulkhead
// without an Observer pays a nil check where an event could be fired and
// reads no clock for it; with one, the events are passed by value, so the
// success path, a wait and a refusal on arrival allocate nothing more.
//
// # Cost
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

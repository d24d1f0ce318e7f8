// Package bench compares the policies of resilience with the libraries users
// would pick instead, in the same run on the same machine. It holds only
// benchmarks; see README.md for how to run them and the latest table.
//
// Naming: every benchmark is Benchmark<Area>/<scenario>/<impl>, where impl is
// "resilience" for ours and the peer's short name otherwise (failsafe-go,
// gobreaker, go-resiliency, x-time-rate, x-sync-semaphore, backoff-v4,
// otter, context). cmd/ratios relies on it to compute ours/peer ratios.
package bench

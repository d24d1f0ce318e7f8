// Package outboxbench measures and tests the transactional outbox end to
// end, PostgreSQL to NATS JetStream, on real servers: relay throughput and
// commit-to-publish latency beside watermill's SQL forwarder, and the
// reliability tests that need a real broker (a broker outage, relay
// processes killed with SIGKILL, two relays at once).
//
// It is a module of its own so that watermill is a dependency of these
// benchmarks only. Everything is in the tests; see README.md for how to run
// them and the figures measured.
package outboxbench

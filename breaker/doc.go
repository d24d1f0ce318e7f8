// Package breaker is a circuit breaker: it stops calling a dependency that
// keeps failing, fails fast while it is open, probes the dependency after a
// while and closes again by itself when it has recovered.
package breaker

// Package chaos injects faults — errors, latency, HTTP statuses, network
// errors, broken bodies, panics — into calls, HTTP clients and HTTP servers,
// so that tests can prove a service survives the failures it will meet.
package chaos

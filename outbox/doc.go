// Package outbox implements the transactional outbox: a service writes a
// state change and the event announcing it in one local database
// transaction, and a relay publishes the events to a message broker.
package outbox

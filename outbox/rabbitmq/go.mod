module github.com/resiliencekit/resilience/outbox/rabbitmq

go 1.25.0

replace github.com/resiliencekit/resilience => ../../

require (
	github.com/rabbitmq/amqp091-go v1.16.0
	github.com/resiliencekit/resilience v0.0.0
)

require github.com/cenkalti/backoff/v4 v4.3.0 // indirect

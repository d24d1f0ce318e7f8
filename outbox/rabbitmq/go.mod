module github.com/resiliencekit/resilience/outbox/rabbitmq

go 1.25.0

replace github.com/resiliencekit/resilience => ../../

require (
	github.com/rabbitmq/amqp091-go v1.16.0
	github.com/resiliencekit/resilience v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

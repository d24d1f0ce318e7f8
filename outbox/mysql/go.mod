module github.com/resiliencekit/resilience/outbox/mysql

go 1.25.0

require (
	github.com/go-sql-driver/mysql v1.10.1
	github.com/resiliencekit/resilience v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/resiliencekit/resilience => ../../

module github.com/resiliencekit/resilience/examples

go 1.25.0

replace github.com/resiliencekit/resilience => ../

require (
	github.com/resiliencekit/resilience v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require github.com/cenkalti/backoff/v4 v4.3.0 // indirect

module github.com/resiliencekit/resilience/outbox/kafka

go 1.25.0

replace github.com/resiliencekit/resilience => ../../

require (
	github.com/resiliencekit/resilience v0.0.0
	github.com/stretchr/testify v1.12.1
	github.com/twmb/franz-go v1.21.7
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260218055430-fc72d8313608
	github.com/twmb/franz-go/pkg/kmsg v1.14.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.26 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.48.0 // indirect
)

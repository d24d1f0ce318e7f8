module github.com/resiliencekit/resilience/examples

go 1.26.0

replace (
	github.com/resiliencekit/resilience => ../
	github.com/resiliencekit/resilience/outbox/nats => ../outbox/nats
	github.com/resiliencekit/resilience/outbox/nats/embedded => ../outbox/nats/embedded
	github.com/resiliencekit/resilience/outbox/sqlite => ../outbox/sqlite
)

require (
	github.com/nats-io/nats.go v1.56.0
	github.com/resiliencekit/resilience v0.0.0
	github.com/resiliencekit/resilience/outbox/nats v0.0.0
	github.com/resiliencekit/resilience/outbox/nats/embedded v0.0.0
	github.com/resiliencekit/resilience/outbox/sqlite v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.7.2-default-no-op // indirect
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nats-server/v2 v2.14.5 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/time v0.15.0 // indirect
	modernc.org/libc v1.75.7 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.59.0 // indirect
)

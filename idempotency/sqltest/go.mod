module github.com/resiliencekit/resilience/idempotency/sqltest

go 1.25.0

require (
	github.com/resiliencekit/resilience v0.0.0
	github.com/resiliencekit/resilience/outbox/mysql v0.0.0
	github.com/resiliencekit/resilience/outbox/postgres v0.0.0
	github.com/resiliencekit/resilience/outbox/sqlite v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/go-sql-driver/mysql v1.10.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	modernc.org/libc v1.75.7 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.59.0 // indirect
)

replace (
	github.com/resiliencekit/resilience => ../../
	github.com/resiliencekit/resilience/outbox/mysql => ../../outbox/mysql
	github.com/resiliencekit/resilience/outbox/postgres => ../../outbox/postgres
	github.com/resiliencekit/resilience/outbox/sqlite => ../../outbox/sqlite
)

module github.com/resiliencekit/resilience/ratelimit/redis

go 1.25.0

replace github.com/resiliencekit/resilience => ../../

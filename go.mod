module github.com/resiliencekit/resilience

go 1.25.0

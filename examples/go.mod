module github.com/resiliencekit/resilience/examples

go 1.25.0

replace github.com/resiliencekit/resilience => ../

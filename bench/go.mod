module github.com/resiliencekit/resilience/bench

go 1.25.0

replace github.com/resiliencekit/resilience => ../

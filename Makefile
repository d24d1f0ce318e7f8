# Shortcuts; each target is a script under scripts/ that works without make.
.PHONY: quickstart test lint bench ci

quickstart: ## run the quickstart on embedded defaults (no servers)
	go run ./examples/quickstart

test: ## the whole test suite, -race, every module (starts the services it needs)
	scripts/test.sh

lint: ## gofmt, go vet, staticcheck
	scripts/lint.sh

bench: ## peer benchmarks with -count 6 and benchstat
	bench/run.sh

ci: lint test

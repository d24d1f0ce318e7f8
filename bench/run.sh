#!/usr/bin/env bash
# Runs the peer benchmarks with -count 6 (override with COUNT=n), keeps the
# raw output in bench/results/latest.txt, prints benchstat's summary and the
# ours/peer ratio table that bench/README.md shows.
# Extra arguments go to `go test` (e.g. bench/run.sh -bench Breaker).
set -euo pipefail
cd "$(dirname "$0")"
COUNT=${COUNT:-6}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
mkdir -p results
out=results/latest.txt
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-bench .)
{
	go test -run '^$' -benchmem -count "$COUNT" -benchtime "${BENCHTIME:-300ms}" "${args[@]}" .
	(cd .. && go test -run '^$' -benchmem -count "$COUNT" -benchtime "${BENCHTIME:-300ms}" -bench 'Chain|Do' .)
} | tee "$out"
echo
go run "$BENCHSTAT" "$out" || true
echo
go run ./cmd/ratios "$out"

#!/usr/bin/env bash
# Runs the whole test suite: every module of the workspace, with the race
# detector, after starting the services the integration tests need.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run Transport).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh || echo "test.sh: some services are down; their tests skip (and fail under CI=true)"
status=0
for m in $(scripts/modules.sh); do
	echo "== go test $m"
	(cd "$m" && go test -race -count=1 -shuffle=on -timeout 15m "$@" ./...) || status=1
done
exit $status

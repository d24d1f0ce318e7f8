#!/usr/bin/env bash
# gofmt, go vet and staticcheck over every module of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
STATICCHECK_VERSION=v0.7.0
status=0
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	status=1
fi
if ! command -v staticcheck >/dev/null || ! staticcheck -version | grep -q "($STATICCHECK_VERSION)"; then
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
for m in $(scripts/modules.sh); do
	echo "== vet + staticcheck $m"
	(cd "$m" && go vet ./... && staticcheck ./...) || status=1
done
exit $status

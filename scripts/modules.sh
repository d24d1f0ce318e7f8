#!/usr/bin/env bash
# Prints the directory of every module in the workspace (go.work), relative
# to the repository root, and fails if a go.mod in the tree is missing from
# go.work (it would be neither built nor tested).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mods=$(go list -m -f '{{.Dir}}' | sed "s|^$root|.|" | sort)
all=$(find . -name go.mod -not -path './.cache/*' -not -path '*/testdata/*' -exec dirname {} \; | sort)
missing=$(comm -13 <(echo "$mods") <(echo "$all"))
if [ -n "$missing" ]; then
	echo "modules.sh: not in go.work: $missing" >&2
	exit 1
fi
echo "$mods"

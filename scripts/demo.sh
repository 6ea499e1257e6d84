#!/usr/bin/env bash
# The README's first command. For now: build and show each binary's
# commands. The audit_app demo (issue #9) replaces this with the full story.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
for b in backup migrate deploy; do
	echo "== ballast-$b --help"
	build/ballast-$b --help
	echo
done

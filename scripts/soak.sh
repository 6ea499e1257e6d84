#!/usr/bin/env bash
# Soak the fault suites with fresh random seeds: scripts/test.sh runs them
# with one fixed seed (BALLAST_FAULT_SEED=1) so CI is repeatable; this runs
# them again and again with a new seed each time, to find what a fixed seed
# never reaches. A failure stops the soak and prints the seed to replay:
#
#   BALLAST_FAULT_SEED=<seed> scripts/test.sh --no-asan -R <suite>
#
#   scripts/soak.sh [RUNS] [REGEX]   RUNS default 20; REGEX default the
#                                    crash suite (integration/test_fault_crash)
# Builds ./build if needed (as scripts/test.sh does); logs in build/soak/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runs=${1:-20}
re=${2:-integration/test_fault_crash}
case "$runs" in ''|*[!0-9]*) echo "usage: scripts/soak.sh [RUNS] [REGEX]" >&2; exit 2 ;; esac

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null 2>build/ballast-build.log ||
	{ cat build/ballast-build.log >&2; exit 1; }
mkdir -p build/soak
unset BALLAST_FAULT_SEED
t0=$(date +%s)
for i in $(seq "$runs"); do
	log=build/soak/run-$i.log
	start=$(date +%s)
	if (cd build && ctest -V -R "$re") >"$log" 2>&1; then st=0; else st=$?; fi
	seeds=$(grep -o 'seed [0-9]* (replay with BALLAST_FAULT_SEED=[0-9]*)' "$log" |
		sed 's/.*=\([0-9]*\))/\1/' | sort -u | tr '\n' ' ' || true)
	if ! grep -q "tests passed, 0 tests failed\|100% tests passed" "$log" || [ "$st" != 0 ]; then
		echo "soak: run $i/$runs FAILED (seeds: ${seeds:-none printed}); log: $log" >&2
		grep -E "FAIL|Assertion|failed" "$log" | head -20 >&2 || true
		exit 1
	fi
	echo "soak: run $i/$runs passed in $(( $(date +%s) - start ))s (seeds: ${seeds% })"
done
echo "soak: $runs runs of '$re' passed in $(( $(date +%s) - t0 ))s, each with a fresh seed"

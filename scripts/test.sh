#!/usr/bin/env bash
# The README's test command: install what is missing, build, run every
# suite through CTest, then build and run them again under ASan+UBSan.
# Exits non-zero on any failure; the last lines are CTest's summary.
#
#   scripts/test.sh            everything
#   scripts/test.sh --no-asan  skip the sanitizer pass (quicker, for development)
#   scripts/test.sh -R REGEX   only the tests whose names match (both passes)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

asan=1
ctest_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--no-asan) asan=0 ;;
	-R|-E|-L) ctest_args+=("$1" "$2"); shift ;;
	*) echo "usage: scripts/test.sh [--no-asan] [-R REGEX]" >&2; exit 2 ;;
	esac
	shift
done

scripts/deps.sh
# The fault suites draw kill moments, flipped bytes and cut points from a
# seed: a fixed one here, so a red run means a code change and replays
# exactly; scripts/soak.sh runs them with fresh seeds.
export BALLAST_FAULT_SEED=${BALLAST_FAULT_SEED:-1}
echo "== fault suites seeded with BALLAST_FAULT_SEED=$BALLAST_FAULT_SEED (scripts/soak.sh for fresh seeds)"
# The suites run python3 a few hundred times a pass (free ports, small
# servers, checks). A version manager's shim in front of it (pyenv's is a
# bash script: 0.36 s a call here against 0.03 s) cost minutes of CPU, so
# Debian's interpreter, which scripts/deps.sh installs, comes first.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$top/build/.python"
	ln -sfn /usr/bin/python3 "$top/build/.python/python3"
	export PATH="$top/build/.python:$PATH"
fi
jobs=$(nproc 2>/dev/null || echo 2)
# Most suites spend their time waiting on servers, health deadlines and
# child processes, so twice as many as there are cores keeps both busy.
test_jobs=$((jobs * 2))

run_pass() {
	local dir=$1; shift
	local s svc
	# Services an interrupted earlier run left running (CTest never ran
	# their stop fixtures) would hold ports, mounts and CPU: stop them.
	for s in "$dir"/tests/svc/*/*/; do
		svc=$(basename "$s")
		[ -x "tests/services/$svc.sh" ] && "tests/services/$svc.sh" stop "${s%/}" >/dev/null 2>&1 || true
	done
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j "$jobs" >/dev/null 2>"$dir/ballast-build.log" ||
		{ cat "$dir/ballast-build.log" >&2; return 1; }
	(cd "$dir" && ctest --output-on-failure -j "$test_jobs" "${ctest_args[@]}" "${pass_args[@]}")
}

echo "== build and test ($top/build)"
# The demo's stand-in story runs in the sanitizer pass (below), unless
# there is none.
pass_args=()
[ "$asan" = 1 ] && pass_args=(-E '^script/test_demo_standin$')
run_pass build
if [ "$asan" = 1 ]; then
	echo "== build and test under ASan+UBSan ($top/build-asan)"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	# CK_FORK stays on: each test in its own process, as in the first pass.
	# The fuzz suite builds its own sanitized binaries; no need to run it twice.
	# test_example_compose runs docker-compose alone, no ballast binary.
	# The demo on Docker runs in the first pass only; its stand-in story
	# runs here only, on the sanitized binaries (the same story twice in one
	# pass would be minutes for nothing).
	pass_args=(-E '^script/test_(fuzz|demo|bench_quick|example_compose)$')
	run_pass build-asan -DBALLAST_SANITIZE=ON
fi

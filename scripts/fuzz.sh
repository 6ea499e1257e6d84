#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for SECONDS (default
# 60) on a scratch copy of its seed corpus. A crash stops with the input
# saved under build-fuzz/crashes/<target>/ (or $BALLAST_FUZZ_BUILD); keep it in tests/fuzz/corpus/
# once fixed.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# BALLAST_FUZZ_SEED=N fixes libFuzzer's seed; BALLAST_FUZZ_RUNS=N runs each
# target for N inputs instead of SECONDS. The test suite sets both (seed 1
# and a fixed count), so a CI run explores exactly the inputs of the last
# one, however fast the machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-60}; shift || true
bdir=${BALLAST_FUZZ_BUILD:-build-fuzz}
command -v clang >/dev/null || { echo "fuzz: clang is not installed" >&2; exit 2; }
CC=clang cmake -S . -B "$bdir" -DBALLAST_FUZZ=ON -DBALLAST_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
# Only the targets (and the library they link): the binaries are not fuzzed.
build=()
for t in "${targets[@]}"; do build+=("fuzz_${t#fuzz_}"); done
cmake --build "$bdir" -j "$(nproc 2>/dev/null || echo 2)" --target "${build[@]}" >"$bdir.log" 2>&1 ||
	{ tail -20 "$bdir.log" >&2; exit 1; }
status=0
for t in "${targets[@]}"; do
	name=${t#fuzz_}
	work=$(mktemp -d)
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	mkdir -p "$bdir/crashes/$name"
	seedopt=()
	[ -n "${BALLAST_FUZZ_SEED:-}" ] && seedopt=(-seed="$BALLAST_FUZZ_SEED")
	limit=(-max_total_time="$secs")
	[ -n "${BALLAST_FUZZ_RUNS:-}" ] && limit=(-runs="$BALLAST_FUZZ_RUNS")
	echo "== fuzz $name for ${BALLAST_FUZZ_RUNS:+$BALLAST_FUZZ_RUNS runs}${BALLAST_FUZZ_RUNS:-${secs}s}${BALLAST_FUZZ_SEED:+ seed $BALLAST_FUZZ_SEED}"
	if ! "$bdir/tests/fuzz/fuzz_$name" "${seedopt[@]}" "${limit[@]}" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$bdir/crashes/$name/" -print_final_stats=0 "$work" \
		>"$bdir/fuzz_$name.log" 2>&1; then
		echo "fuzz $name: crash, see $bdir/fuzz_$name.log and $bdir/crashes/$name/" >&2
		tail -30 "$bdir/fuzz_$name.log" >&2
		status=1
	else
		grep -E "^#[0-9]+.*DONE" "$bdir/fuzz_$name.log" | tail -1 || true
	fi
	rm -rf "$work"
done
exit $status

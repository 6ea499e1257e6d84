#!/usr/bin/env bash
# Every libFuzzer target runs BALLAST_FUZZ_RUNS inputs (default 50000,
# a few seconds each; seed BALLAST_FUZZ_SEED, default 1: the same inputs on
# every run, however fast the machine) without
# a crash, a leak or a sanitizer report. Skipped in the ASan pass of
# scripts/test.sh (the fuzz build is already sanitized).
. "$(dirname "$0")/lib.sh"
if ! command -v clang >/dev/null; then
	echo "clang missing: scripts/deps.sh installs it" >&2
	exit 1
fi
cd "$S"
BALLAST_FUZZ_SEED=${BALLAST_FUZZ_SEED:-1} BALLAST_FUZZ_RUNS=${BALLAST_FUZZ_RUNS:-50000} \
	BALLAST_FUZZ_BUILD=$B/fuzz scripts/fuzz.sh && t_ok || t_fail "a fuzz target crashed (see above)"
t_done

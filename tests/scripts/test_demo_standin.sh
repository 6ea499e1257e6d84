#!/usr/bin/env bash
# scripts/demo.sh where Docker cannot be used: its runtime choice and the
# whole story on the stand-in runtime (examples/demo/compose). A forced
# Docker runtime that is unavailable exits 1 with the reason, an unknown
# runtime exits 2, and the automatic choice falls back to the stand-in,
# saying why, and tells the same story with every step as expected.
# Skipped in the ASan pass, like test_demo.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BALLAST_DEMO_BUILD=$B

t_run 2 env BALLAST_DEMO_RUNTIME=podman "$S/scripts/demo.sh"
t_contains "$t_err" "BALLAST_DEMO_RUNTIME must be standin or docker, not 'podman'" "unknown runtime"
t_run 1 env BALLAST_DEMO_RUNTIME=docker BALLAST_DEMO_DOCKER="$tmp/none" "$S/scripts/demo.sh"
t_contains "$t_err" "BALLAST_DEMO_RUNTIME=docker, but Docker cannot be used: BALLAST_DEMO_DOCKER=$tmp/none is not the state dir of a private engine (no host file)" "docker forced and unavailable"
t_check "docker forced and unavailable: no story was told" lacks "$t_out" "deploy v1.0.0"

out=$(BALLAST_DEMO_DOCKER="$tmp/none" "$S/scripts/demo.sh" 2>&1); rc=$?
[ "$rc" = 0 ] && t_ok || { t_fail "scripts/demo.sh exited $rc"; printf '%s\n' "$out" | tail -60 >&2; }
t_check "the fallback says which runtime and why" contains "$out" "containers:  NOT Docker (BALLAST_DEMO_DOCKER=$tmp/none is not the state dir of a private engine (no host file)): the stand-in examples/demo/compose runs"
t_contains "$out" "every step ended as expected" "demo summary"
for s in "repository init" "lint docker-compose.prod.yml" "deploy v1.0.0" "nightly backup" "restore drill" "deploy v2.0.0" "deploy v3.0.0-broken" "deploy v4.0.0-broken" "history"; do
	printf '%s\n' "$out" | grep -E "^  $s +[0-9.]+s +ok " >/dev/null && t_ok || t_fail "summary has no ok row for '$s'"
done
t_check "no images are built for the stand-in" lacks "$out" "build + push images"
t_check "v3 rolled back by its down SQL" contains "$out" "rolled-back; health v2.0.0; schema 20261108120000"
t_check "v4 restored from the snapshot" contains "$out" "rolled-back-with-restore; health v2.0.0; schema 20261108120000"
t_done

#!/usr/bin/env bash
# The README's first command tells its whole story and every step ends as
# expected: deploy, nightly backup, drill, a healthy deploy, a failed deploy
# rolled back by the stored down SQL, and a failed irreversible deploy
# rolled back by a data restore. Skipped in the ASan pass (its binaries'
# paths are covered by the deploy, backup and migrate suites there).
. "$(dirname "$0")/lib.sh"
out=$(BALLAST_DEMO_BUILD=$B "$S/scripts/demo.sh" 2>&1); rc=$?
[ "$rc" = 0 ] && t_ok || { t_fail "scripts/demo.sh exited $rc"; printf '%s\n' "$out" | tail -60 >&2; }
t_contains "$out" "NOT Docker" "demo says it uses the demo runtime"
t_contains "$out" "every step ended as expected" "demo summary"
for s in "repository init" "deploy v1.0.0" "nightly backup" "restore drill" "deploy v2.0.0" "deploy v3.0.0-broken" "deploy v4.0.0-broken"; do
	printf '%s\n' "$out" | grep -E "^  $s +[0-9.]+s +ok " >/dev/null && t_ok || t_fail "summary has no ok row for '$s'"
done
t_contains "$out" "rolled-back-with-restore" "v4 was restored from the snapshot"
t_done

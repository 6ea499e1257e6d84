#!/usr/bin/env bash
# services: hooksink
# Shipped hooks run as documented: notify-failure posts a JSON body with the
# deploy's environment and never fails the caller; the install puts hooks,
# crontab and systemd units where they belong.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC/hooksink
url=$(cat "$svc/url")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

: > "$svc/requests.jsonl"
BALLAST_WEBHOOK_URL=$url/hook BALLAST_ENV=prod BALLAST_RELEASE=v1.2.3 BALLAST_PREVIOUS_RELEASE=v1.2.2 \
BALLAST_PHASE=verify BALLAST_BACKUP_ID=20261127T021500Z-ab12 BALLAST_ERROR='health "500" on /health' \
	t_run 0 "$S/hooks/notify-failure"
n=$(grep -c . "$svc/requests.jsonl")
[ "$n" = 1 ] && t_ok || t_fail "notify-failure sent $n requests, expected 1"
body=$(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["body"])' "$svc/requests.jsonl")
python3 - "$body" <<'PY' && t_ok || t_fail "notify-failure body: $body"
import json, sys
b = json.loads(sys.argv[1])
assert b["status"] == "failure" and b["env"] == "prod" and b["release"] == "v1.2.3", b
assert b["previous_release"] == "v1.2.2" and b["phase"] == "verify", b
assert b["backup_id"] == "20261127T021500Z-ab12", b
assert 'health "500" on /health' in b["text"], b
PY
# A failing webhook does not fail the hook (the notifier never changes the outcome).
echo 500 > "$svc/mode"
BALLAST_WEBHOOK_URL=$url/hook t_run 0 "$S/hooks/notify-failure"
t_contains "$t_err" "could not post" "notify-failure on 500"
echo ok > "$svc/mode"
# No URL: says so, exits 0.
env -u BALLAST_WEBHOOK_URL "$S/hooks/notify-failure" 2>"$tmp/err"; rc=$?
[ "$rc" = 0 ] && t_ok || t_fail "notify-failure without URL exited $rc"
t_contains "$(cat "$tmp/err")" "no webhook" "notify-failure without URL"
# pre-deploy-snapshot refuses to run without a release.
env -u BALLAST_RELEASE sh "$S/hooks/pre-deploy-snapshot" 2>"$tmp/err"; rc=$?
[ "$rc" != 0 ] && t_ok || t_fail "pre-deploy-snapshot without BALLAST_RELEASE succeeded"
# Every shipped hook is executable and documented at the top.
for h in "$S"/hooks/*; do
	[ -x "$h" ] && t_ok || t_fail "$h is not executable"
	sed -n '2p' "$h" | grep -q "^# $(basename "$h"):" && t_ok || t_fail "$h: line 2 must document it"
done
# Install layout.
cmake --install "$B" --prefix "$tmp/prefix" >/dev/null || t_fail "cmake --install failed"
for f in bin/ballast-backup bin/ballast-migrate bin/ballast-deploy share/ballast/hooks/notify-failure \
	share/ballast/hooks/pre-deploy-snapshot share/ballast/cron/crontab \
	lib/systemd/system/ballast-backup.timer lib/systemd/system/ballast-drill.service; do
	[ -e "$tmp/prefix/$f" ] && t_ok || t_fail "install is missing $f"
done
grep -Eq "ExecStart=/.*/bin/ballast-backup run" "$tmp/prefix/lib/systemd/system/ballast-backup.service" \
	&& t_ok || t_fail "ballast-backup.service does not name the installed binary"
grep -q "Persistent=true" "$tmp/prefix/lib/systemd/system/ballast-backup.timer" && t_ok || t_fail "timer not persistent"
t_done

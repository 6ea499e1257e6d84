#!/usr/bin/env bash
# The systemd units as installed (BINDIR filled in by CMake, as in the
# build tree) pass `systemd-analyze verify`, set KillMode=mixed, and are
# sandboxed: `systemd-analyze security --offline` rates the backup, drill
# and wal-stream services at most 4.0. Exit 77 (skipped) where
# systemd-analyze is not installed.
# services:
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped" >&2; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for u in ballast-backup.service ballast-drill.service ballast-backup.timer ballast-drill.timer \
	ballast-wal-stream@.service; do
	f=$B/cron/$u
	[ -f "$f" ] || { t_fail "$u not generated in $B/cron"; continue; }
	# verify checks that ExecStart's binary exists: point it at the build's;
	# a template is verified as one instance of it
	sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/ballast-backup|\1$B/ballast-backup|" "$f" >"$tmp/${u/@./@app.}"
done
for u in ballast-backup.service ballast-drill.service ballast-wal-stream@app.service; do
	out=$(cd "$tmp" && systemd-analyze verify "$tmp/$u" 2>&1)
	[ -z "$out" ] && t_ok || t_fail "$u: systemd-analyze verify: $out"
	grep -q '^KillMode=mixed$' "$tmp/$u" && t_ok || t_fail "$u: no KillMode=mixed"
	score=$(systemd-analyze security --offline=true "$tmp/$u" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' && t_ok ||
		t_fail "$u: systemd-analyze security rates it '${score:-?}', expected at most 4.0"
	echo "$u: exposure $score" >&2
done
t_done

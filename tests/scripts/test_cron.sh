#!/usr/bin/env bash
# services: pg
# The crontab as installed (generated into the build tree with the install
# directory in PATH): its backup line, with the paths pointed
# at a scratch config and env file, runs a backup whose database password is
# only in that env file (password auth over TCP, no PGPASSWORD, a clean
# environment like cron's). Without the file, the run says which variable is
# missing before it starts. The systemd units have a start timeout.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC
PW=$(cat "$svc/pg/password")
tcp=$(cat "$svc/pg/conninfo_tcp")
ci=$(cat "$svc/pg/conninfo")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
src=$BALLAST_SOURCE_DIR

psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS crondb" -c "CREATE DATABASE crondb" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d "${ci/dbname=postgres/dbname=crondb}" \
	-c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g" >/dev/null
cat >"$tmp/ballast.json" <<JSON
{ "project": "cron", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "retention": { "keep_last": 3 },
  "databases": [ { "name": "app", "conninfo": "$tcp dbname=crondb", "password_env": "CRON_PG_PW" } ] }
JSON
"$B/ballast-backup" --config "$tmp/ballast.json" init >/dev/null
printf 'CRON_PG_PW=%s\n' "$PW" >"$tmp/ballast.env"
chmod 600 "$tmp/ballast.env"

# The crontab's variable lines and its backup command, paths replaced.
vars=()
while IFS= read -r l; do
	l=${l//\/etc\/ballast\/ballast.json/$tmp\/ballast.json}
	l=${l//\/etc\/ballast\/ballast.env/$tmp\/ballast.env}
	vars+=("$l")
done < <(grep -E '^[A-Z_]+=' "$B/cron/crontab")
cmd=$(awk '!/^#/ && /ballast-backup run/ { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : ""); print "" }' "$B/cron/crontab")
[ -n "$cmd" ] && t_ok || t_fail "no backup line in the crontab"
t_contains "${vars[*]}" "BALLAST_ENV_FILE=$tmp/ballast.env" "the crontab names the env file"
bindir=$(sed -n 's/^CMAKE_INSTALL_FULL_BINDIR:[A-Z]*=//p' "$B/CMakeCache.txt")
[ -z "$bindir" ] && bindir=$(grep -o '^ExecStart=[^ ]*' "$B/cron/ballast-backup.service" | sed 's|^ExecStart=||; s|/ballast-backup$||')
t_contains "${vars[*]}" "PATH=$bindir:" "the crontab's PATH starts with the install directory, as the units' ExecStart"
pgbin=$(dirname "$(command -v pg_dump)")
path=
for v in "${vars[@]}"; do case $v in PATH=*) path=${v#PATH=};; esac; done
cron_env=(env -i HOME="$tmp" "${vars[@]}" PATH="$B:$pgbin:$path")

t_run 0 "${cron_env[@]}" sh -c "$cmd"
n=$("$B/ballast-backup" --config "$tmp/ballast.json" list --json | tail -n1 | grep -o '"status":"good"' | wc -l)
[ "$n" = 1 ] && t_ok || t_fail "the cron line made $n good backups, expected 1"
t_not_contains "$t_out$t_err" "$PW" "the password is not printed"

# The same line without the env file: exit 2, naming the variable.
rm "$tmp/ballast.env"
t_run 2 "${cron_env[@]}" sh -c "$cmd"
t_contains "$t_err" "databases[0].password_env: variable CRON_PG_PW is not set" "missing env file"

# An env file that does not parse: exit 2 naming it.
printf 'this is not a variable\n' >"$tmp/ballast.env"
t_run 2 "${cron_env[@]}" sh -c "$cmd"
t_contains "$t_err" "BALLAST_ENV_FILE" "unreadable env file"

for u in ballast-backup.service ballast-drill.service; do
	grep -q '^TimeoutStartSec=' "$src/cron/$u" && t_ok || t_fail "$u has no TimeoutStartSec"
done
t_done

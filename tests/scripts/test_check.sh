#!/usr/bin/env bash
# services: pg
# ballast-backup check: one line per check, --json, exit 0 when all pass,
# 1 when a database or volume is unusable, 2 when a secret is missing.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC
PW=$(cat "$svc/pg/password")
tcp=$(cat "$svc/pg/conninfo_tcp")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bb=$B/ballast-backup
mkdir -p "$tmp/vol"
write_cfg() { # VOLUME_PATH
	cat >"$tmp/ballast.json" <<JSON
{ "project": "chk", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$tcp dbname=postgres", "password_env": "CHK_PW" } ],
  "volumes": [ { "name": "files", "path": "$1" } ] }
JSON
}
write_cfg "$tmp/vol"
export CHK_PW=$PW
t_run 1 "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "FAILED repository" "check before init"
t_contains "$t_out" "run 'ballast-backup init'" "check names init"
t_run 0 "$bb" --config "$tmp/ballast.json" init
t_run 0 "$bb" --config "$tmp/ballast.json" check
for want in "ok     config" "ok     secrets" "ok     database app" "ok     volume files" "ok     repository" "ok     free space" "ok     lock"; do
	t_contains "$t_out" "$want" "check: $want"
done
t_contains "$t_out" "server " "check names the server version"
t_not_contains "$t_out$t_err" "$PW" "check does not print the password"
t_run 0 "$bb" --config "$tmp/ballast.json" check --json
t_contains "$t_out" '"status":"ok"' "check --json"

# an unreadable volume: exit 1 with a FAILED line naming it
write_cfg "$tmp/missing"
t_run 1 "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "FAILED volume files" "missing volume"
write_cfg "$tmp/vol"

# a wrong password: exit 1, the database line says why
CHK_PW=wrong t_run 1 "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "FAILED database app" "wrong password"

# the secret missing: exit 2, naming the variable
t_run 2 env -u CHK_PW "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "FAILED secrets" "missing secret line"
t_contains "$t_err" "variable CHK_PW is not set" "missing secret named"
t_done

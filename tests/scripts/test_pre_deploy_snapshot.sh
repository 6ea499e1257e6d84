#!/usr/bin/env bash
# services: pg
# hooks/pre-deploy-snapshot against the real ballast-backup: it prints the
# new backup's id (one line, nothing else on stdout), the backup is
# committed and carries the reason/release/env labels; a failing backup
# makes the hook fail (so a deploy aborts) and prints no id.
. "$(dirname "$0")/lib.sh"
ci=$(cat "$BALLAST_TEST_SVC/pg/conninfo")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export PGOPTIONS='-c client_min_messages=warning'
db_ci=${ci/dbname=postgres/dbname=snap_app}
psql -q -X -d "$ci" -c "DROP DATABASE IF EXISTS snap_app" -c "CREATE DATABASE snap_app" >/dev/null
psql -q -X -d "$db_ci" -c "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 42) g" >/dev/null
cat >"$tmp/ballast.json" <<JSON
{ "project": "shop", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$db_ci" } ] }
JSON
"$B/ballast-backup" --config "$tmp/ballast.json" init >/dev/null
hook=$S/hooks/pre-deploy-snapshot

BALLAST_BACKUP=$B/ballast-backup BALLAST_CONFIG=$tmp/ballast.json BALLAST_RELEASE=v2.0.1 \
BALLAST_ENV=prod t_run 0 "$hook"
t_lines "$t_out" 1 "hook stdout"
id=$t_out
case "$id" in
[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]) t_ok ;;
*) t_fail "hook printed '$id', expected a backup id" ;;
esac
t_run 0 "$B/ballast-backup" --config "$tmp/ballast.json" show "$id" --json
python3 - "$t_out" "$id" <<'PY' && t_ok || t_fail "labels of $id: $t_out"
import json, sys
res = json.loads(sys.argv[1].splitlines()[-1])
m = res["manifest"]
assert m["id"] == sys.argv[2], m["id"]
assert m["labels"] == {"reason": "pre-deploy", "release": "v2.0.1", "env": "prod"}, m["labels"]
t = m["items"][0]["tables"]
assert [x["rows"] for x in t if x["name"] == "orders"] == [42], t
PY
t_run 0 "$B/ballast-backup" --config "$tmp/ballast.json" list --json
t_contains "$t_out" "\"id\":\"$id\"" "list shows the snapshot"
t_contains "$t_out" '"status":"good"' "the snapshot is good"
# the id printed is the one restore can use
psql -q -X -d "$ci" -c "DROP DATABASE IF EXISTS snap_restored" -c "CREATE DATABASE snap_restored" >/dev/null
t_run 0 "$B/ballast-backup" --config "$tmp/ballast.json" restore "$id" --target "${ci/dbname=postgres/dbname=snap_restored}"
[ "$(psql -X -At -d "${ci/dbname=postgres/dbname=snap_restored}" -c 'SELECT count(*) FROM orders')" = 42 ] \
	&& t_ok || t_fail "restore of the snapshot"

# Without BALLAST_ENV the env label is absent.
BALLAST_BACKUP=$B/ballast-backup BALLAST_CONFIG=$tmp/ballast.json BALLAST_RELEASE=v2.0.2 \
	t_run 0 env -u BALLAST_ENV "$hook"
t_run 0 "$B/ballast-backup" --config "$tmp/ballast.json" show "$t_out" --json
t_not_contains "$t_out" '"env":' "labels without BALLAST_ENV"

# A backup that fails makes the hook fail with no id on stdout.
sed "s/dbname=snap_app/dbname=snap_missing/" "$tmp/ballast.json" >"$tmp/bad.json"
BALLAST_BACKUP=$B/ballast-backup BALLAST_CONFIG=$tmp/bad.json BALLAST_RELEASE=v2.0.3 t_run 1 "$hook"
[ -z "$t_out" ] && t_ok || t_fail "a failed snapshot printed: $t_out"
t_contains "$t_err" "snap_missing" "the hook passes the backup's error on"
t_done

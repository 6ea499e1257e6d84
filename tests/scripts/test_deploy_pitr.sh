#!/usr/bin/env bash
# services: http
# "snapshot": "restore-point": the pre-deploy snapshot is a restore point
# in the WAL of a real PostgreSQL 15 primary that archives through
# ballast-backup wal-push, and a rollback whose downgrade is refused
# recovers the database to exactly that point: every row committed before
# the deploy is there, nothing the failed release wrote survives. Done
# twice from one base backup chain, so the second rollback recovers along
# the first one's timeline to timeline 3. The server runs outside compose
# here (stop_command/start_command); the compose stand-in plays the app.
. "$(dirname "$0")/deploy_lib.sh"

PGDIR=$WORK/pg
PG_EXTRA_OPTS="-c archive_mode=on -c wal_level=replica" "$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || exit 1
trap '"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
PGPORT=$(cat "$PGDIR/port") BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres
OWNER=$(stat -c %U "$PGDIR/data")
q() { psql -X -At -v ON_ERROR_STOP=1 -d "${DB:-app}" -c "$1"; }
psql -X -q -d postgres -c "CREATE DATABASE app" || exit 1

# the server's own options: pg.sh passed them on pg_ctl's command line, so
# the start_command must give them again
PGOPTS="-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGDIR -c fsync=off -c archive_mode=on -c wal_level=replica"
if [ "$(id -u)" = 0 ]; then RUNAS='"runuser", "-u", "'$OWNER'", "--", '; else RUNAS=; fi
STOP="[${RUNAS}\"$BINDIR/pg_ctl\", \"-D\", \"$PGDIR/data\", \"-m\", \"fast\", \"-w\", \"stop\"]"
START="[${RUNAS}\"$BINDIR/pg_ctl\", \"-D\", \"$PGDIR/data\", \"-l\", \"$PGDIR/server.log\", \"-w\", \"-o\", \"$PGOPTS\", \"start\"]"

mkdir -p "$WORK/rel/v1" "$WORK/rel/v2" "$WORK/rel/v3"
echo "CREATE TABLE orders (id bigserial PRIMARY KEY, what text NOT NULL);" > "$WORK/rel/v1/1_orders.up.sql"
echo "DROP TABLE orders;" > "$WORK/rel/v1/1_orders.down.sql"
# v2 and v3: an irreversible migration that writes, then health fails
cp "$WORK/rel/v1/"* "$WORK/rel/v2/"
echo "INSERT INTO orders (what) VALUES ('written by v2'); DELETE FROM orders WHERE what = 'kept-1';" > "$WORK/rel/v2/2_v2_writes.up.sql"
cp "$WORK/rel/v1/"* "$WORK/rel/v3/"
echo "INSERT INTO orders (what) VALUES ('written by v3'); UPDATE orders SET what = 'changed by v3';" > "$WORK/rel/v3/2_v3_writes.up.sql"

TOP_EXTRA="\"repository\": {\"type\": \"local\", \"path\": \"$WORK/repo\"},
  \"databases\": [{\"name\": \"app\", \"mode\": \"physical\", \"conninfo\": \"host=$PGDIR port=$PGPORT user=postgres dbname=app\", \"pg_bindir\": \"$BINDIR\"}],
  \"migrations\": {\"database\": \"app\", \"dir\": \"migrations\"},"
SNAPSHOT='"restore-point"' DATA_RESTORE=if-irreversible \
	EXTRA=", \"config\": \"$WORK/pitr/ballast.json\", \"pitr\": {\"data_dir\": \"$PGDIR/data\", \"stop_command\": $STOP, \"start_command\": $START, \"archive_wait\": \"60s\"}" \
	new_env pitr
chmod 644 "$CFG"
mkdir -p "$WORK/repo"
"$TOOLS/ballast-backup" --config "$CFG" init >/dev/null || exit 1
# wal-push runs as the server's owner: hand it the project folder
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$WORK/repo/t"
q "ALTER SYSTEM SET archive_command = '$TOOLS/ballast-backup --config $CFG wal-push %p'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
deploy_rel() { run_deploy deploy qa --release "$1" --migrations "$WORK/rel/$2"; }
rows() { q "SELECT string_agg(what, ',' ORDER BY id) FROM orders"; }
timeline() { q "SELECT timeline_id FROM pg_control_checkpoint()"; }

# ---- config: a restore point needs to know the server ----
jq '.environments.qa.pitr |= del(.data_dir)' "$CFG" > "$WORK/bad.json"
t_run 2 "$DEPLOY" --config "$WORK/bad.json" plan qa --release v1
t_contains "$t_err" "environments.qa.pitr.data_dir: required with \"snapshot\": \"restore-point\"" "data_dir missing is refused"
jq '.environments.qa.pitr.volume = "app_pgdata"' "$CFG" > "$WORK/bad.json"
t_run 2 "$DEPLOY" --config "$WORK/bad.json" plan qa --release v1
t_contains "$t_err" "not both" "data_dir and volume together are refused"
jq '.environments.qa.pitr.service = "postgres"' "$CFG" > "$WORK/bad.json"
t_run 2 "$DEPLOY" --config "$WORK/bad.json" plan qa --release v1
t_contains "$t_err" "expected either \"service\"" "service and commands together are refused"
jq '.environments.qa.snapshot = "point"' "$CFG" > "$WORK/bad.json"
t_run 2 "$DEPLOY" --config "$WORK/bad.json" plan qa --release v1
t_contains "$t_err" "expected one of \"restore-point\"" "an unknown snapshot mode is refused"

# ---- no base backup yet: the snapshot is refused before anything changes ----
deploy_rel v1 v1
t_check "no base backup: deploy aborted (exit 1)" eq "$RC" 1
t_check "no base backup: the reason names the database" contains "$ERR" "no good backup in"
t_check "no base backup: aborted, nothing deployed" eq "$(last_history .result) $(jq -r '.release // "none"' "$APP/.ballast/state.json" 2>/dev/null || echo none)" "aborted none"

"$TOOLS/ballast-backup" --config "$CFG" run >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err"; exit 1; }
deploy_rel v1 v1
t_check "v1: deployed" eq "$RC $(state_release)" "0 v1"
RP1=$(json "$APP/.ballast/state.json" .restore_point)
t_check "v1: state.json records the restore point" eq "$(printf '%s' "$RP1" | grep -cE '^ballast-qa-v1-[0-9]{8}T[0-9]{6}Z$')" 1
t_check "v1: the point is recorded in the repository" test -f "$WORK/repo/t/wal/app/restore-points/$RP1.json"
t_check "v1: history names the restore point" eq "$(last_history .restore_point)" "$RP1"
# for docs/ballast-deploy.md: what the snapshot step costs (no assertion on time)
echo "# snapshot step: $(last_history '.steps[] | select(.step == "snapshot") | .ms') ms"

run_deploy plan qa --release v2 --migrations "$WORK/rel/v2"
t_check "plan: restore point, then stop-app, stop-db, restore, start-db on a refused downgrade" eq \
	"$(printf '%s\n' "$OUT" | grep -oE '^ *[0-9]+\. (snapshot|stop-app|stop-db|restore|start-db) ' | awk '{print $2}' | paste -sd,)" \
	"snapshot,stop-app,stop-db,restore,start-db"
t_check "plan: the restore recovers by name into the data directory" contains "$OUT" "restore --pitr --name '<the restore point>' --data-dir $PGDIR/data"
# a server in compose on a named volume: the rollback restores into it
jq '.environments.qa.pitr |= (del(.data_dir) | .volume = "app_pgdata")' "$CFG" > "$WORK/vol.json"
t_run 0 "$DEPLOY" --config "$WORK/vol.json" plan qa --release v2 --migrations "$WORK/rel/v2"
t_contains "$t_out" "restore --pitr --name '<the restore point>' --docker-volume app_pgdata" \
	"pitr.volume: the rollback's restore recovers into the named volume"

q "INSERT INTO orders (what) VALUES ('kept-1'), ('kept-2')" >/dev/null
BEFORE=$(rows)
TL_BEFORE=$(timeline)
echo 500 > "$HTTP_STATE/fail/v2"
deploy_rel v2 v2
t_check "v2 fails: exit 1, rolled back with restore" eq "$RC $(last_history .result)" "1 rolled-back-with-restore"
t_check "v2 fails: the downgrade was refused first" contains "$ERR" "irreversible"
RP2=$(last_history .restore_point)
t_check "v2 fails: the restore recovered to v2's restore point" eq "$(last_history '[.steps[].step | select(. == "stop-app" or . == "stop-db" or . == "restore" or . == "start-db")] | join(",")')" "stop-app,stop-db,restore,start-db"
t_check "v2 fails: every row committed before the deploy is there, v2's writes are not" eq "$(rows)" "$BEFORE"
t_check "v2 fails: schema back at version 1" eq "$("$TOOLS/ballast-migrate" --config "$CFG" --json status | tail -n1 | jq -r .current_version)" 1
t_check "v2 fails: the server runs on a new timeline" eq "$(timeline)" "$((TL_BEFORE + 1))"
t_check "v2 fails: state.json on v1, health from v1" eq "$(state_release) $(health_release)" "v1 v1"
t_check "v2 fails: the old data is kept beside the data directory" test -n "$(ls -d "$PGDIR"/data.ballast-old-* 2>/dev/null)"
rm -f "$HTTP_STATE/fail/v2"

# ---- again, on the new timeline: a second rollback reaches timeline 3 ----
# A fresh base backup on timeline 2 (the kept old data names the first one).
q "INSERT INTO orders (what) VALUES ('after-rollback')" >/dev/null
"$TOOLS/ballast-backup" --config "$CFG" run >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err"; exit 1; }
q "INSERT INTO orders (what) VALUES ('after-second-backup')" >/dev/null
BEFORE=$(rows)
echo 500 > "$HTTP_STATE/fail/v3"
deploy_rel v3 v3
t_check "v3 fails: rolled back with restore" eq "$RC $(last_history .result)" "1 rolled-back-with-restore"
t_check "v3 fails: rows as committed before the deploy (WAL replayed on timeline 2)" eq "$(rows)" "$BEFORE"
t_check "v3 fails: timeline 3" eq "$(timeline)" "$((TL_BEFORE + 2))"
t_check "v3 fails: the archive holds timeline 3's history" test -n "$(find "$WORK/repo/t/wal/app" -name '00000003.history*')"
t_check "v3 fails: verify --wal finds the archive whole and follows timeline 3" eq "$("$TOOLS/ballast-backup" --config "$CFG" verify --wal --json 2>/dev/null | tail -n1 | jq -r '"\(.ok) \(.wal[0].timeline) \(.wal[0].gap)"')" "true 3 null"
rm -f "$HTTP_STATE/fail/v3"

t_done

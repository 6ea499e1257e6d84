#!/usr/bin/env bash
# services: pg http
# ballast-deploy with the real ballast-migrate and ballast-backup on a real
# PostgreSQL holding Pagila: schema upgrades per release, and every fault
# after the schema changed rolls the schema back with the stored down SQL,
# or, when the new release's migration is irreversible, restores the data
# from the pre-deploy snapshot. After each fault the environment must be on
# the previous release: state.json, health 200 from it, the schema version
# it had, and every table's data unchanged (a checksum per table).
. "$(dirname "$0")/deploy_lib.sh"

PGHOST=$(cat "$SVC/pg/host"); PGPORT=$(cat "$SVC/pg/port")
export PGHOST PGPORT PGUSER=postgres
psql -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE app" || exit 1
psql -q -v ON_ERROR_STOP=1 -d app -f "$S/tests/data/pagila/pagila-schema.sql" >/dev/null 2>&1 || { echo "pagila schema failed"; exit 1; }
zstd -dc "$S/tests/data/pagila/pagila-data.sql.zst" | psql -q -v ON_ERROR_STOP=1 -d app >/dev/null 2>&1 || { echo "pagila data failed"; exit 1; }

# Every user table's rows, hashed, one line per table (ballast's own table
# excluded: the schema version is checked separately).
checksums() {
	psql -At -d app -c "SELECT format('SELECT %L || '' '' || md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '''')) FROM %I.%I t;', n.nspname || '.' || c.relname, n.nspname, c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND c.relname <> 'ballast_migrations'
		ORDER BY 1" | psql -At -d app
}
schema_version() { "$TOOLS/ballast-migrate" --config "$CFG" --json status | tail -n1 | jq -r .current_version; }
has_column() { psql -At -d app -c "SELECT count(*) FROM information_schema.columns WHERE table_name = '$1' AND column_name = '$2'"; }

# releases: each a migrations directory as the release's checkout has it
rel() { mkdir -p "$WORK/rel/$1"; cp -r "$WORK/rel/$2/." "$WORK/rel/$1/" 2>/dev/null; }
mkdir -p "$WORK/rel/v1"
echo "CREATE TABLE audit_log (id bigserial PRIMARY KEY, msg text NOT NULL);" > "$WORK/rel/v1/1_audit_log.up.sql"
echo "DROP TABLE audit_log;" > "$WORK/rel/v1/1_audit_log.down.sql"
rel v2 v1
echo "ALTER TABLE film ADD COLUMN note text; UPDATE film SET note = 'n' || film_id;" > "$WORK/rel/v2/2_film_note.up.sql"
echo "ALTER TABLE film DROP COLUMN note;" > "$WORK/rel/v2/2_film_note.down.sql"
# v3-failing: a good migration, then one that fails
rel v3-failing v2
echo "CREATE TABLE promo (id int PRIMARY KEY); INSERT INTO promo VALUES (1);" > "$WORK/rel/v3-failing/3_promo.up.sql"
echo "DROP TABLE promo;" > "$WORK/rel/v3-failing/3_promo.down.sql"
echo "UPDATE customer SET email = NULL WHERE customer_id = 1; SELECT no_such_column FROM customer;" > "$WORK/rel/v3-failing/4_broken.up.sql"
echo "SELECT 1;" > "$WORK/rel/v3-failing/4_broken.down.sql"
# v3: reversible schema change that rewrites data
rel v3 v2
echo "ALTER TABLE customer ADD COLUMN tier text DEFAULT 'basic'; CREATE INDEX film_note_idx ON film (note);" > "$WORK/rel/v3/3_tier.up.sql"
echo "DROP INDEX film_note_idx; ALTER TABLE customer DROP COLUMN tier;" > "$WORK/rel/v3/3_tier.down.sql"
# v3-irreversible: drops data and has no down file
rel v3-irreversible v2
echo "ALTER TABLE customer DROP COLUMN activebool CASCADE; DELETE FROM payment WHERE amount < 1;" > "$WORK/rel/v3-irreversible/3_drop_activebool.up.sql"

# A volume whose copy always fails: the pre-deploy snapshot holds only the
# database a rollback restores, so it never runs (a nightly backup would).
mkdir -p "$WORK/uploads"
TOP_EXTRA="\"repository\": {\"type\": \"local\", \"path\": \"$WORK/repo\"},
  \"databases\": [{\"name\": \"app\", \"conninfo\": \"host=$PGHOST port=$PGPORT user=postgres dbname=app\"}],
  \"volumes\": [{\"name\": \"uploads\", \"path\": \"$WORK/uploads\", \"before\": [\"false\"]}],
  \"migrations\": {\"database\": \"app\", \"dir\": \"migrations\"},"
SNAPSHOT=true DATA_RESTORE=if-irreversible EXTRA=", \"config\": \"$WORK/mig/ballast.json\"" new_env mig
mkdir -p "$WORK/repo"
"$TOOLS/ballast-backup" --config "$CFG" init >/dev/null
# A third-party service beside the two of images: a restore must not stop it.
echo "db postgres:16" > "$STANDIN/services"
# ballast-backup behind a wrapper that records, when a restore starts, which
# services the stand-in has stopped (and fails it while fail-restore exists)
cat > "$WORK/backup-wrap" <<SH
#!/usr/bin/env bash
for a; do
	if [ "\$a" = restore ]; then
		echo "stopped=\$(paste -sd, "$STANDIN/stopped" 2>/dev/null)" >> "$WORK/restores"
		[ -e "$WORK/fail-restore" ] && { echo "backup-wrap: the restore failed on purpose" >&2; exit 1; }
		break
	fi
done
exec "$TOOLS/ballast-backup" "\$@"
SH
chmod +x "$WORK/backup-wrap"
jq --arg w "$WORK/backup-wrap" '.environments.qa.backup_command = [$w]' "$CFG" > "$CFG.tmp" && mv "$CFG.tmp" "$CFG"
last_restore() { tail -n1 "$WORK/restores" 2>/dev/null; }
# compose_cmds N: the stand-in's up, stop and start calls from line N of
# calls.jsonl on, without options, joined by "|" ("up|stop backend worker|up")
compose_cmds() {
	tail -n +"$1" "$STANDIN/calls.jsonl" |
		jq -r '.argv | (index("up") // index("stop") // index("start")) as $i | select($i) |
			.[$i:] | map(select(startswith("-") | not)) | join(" ")' | paste -sd'|'
}
calls_now() { echo $(($(wc -l < "$STANDIN/calls.jsonl") + 1)); }
steps_of() { last_history "[.steps[].step | select(. == \"stop-app\" or . == \"restore\" or . == \"start-app\" or . == \"rollback-up\")] | join(\",\")"; }

deploy_rel() { # deploy_rel TAG RELDIR
	run_deploy deploy qa --release "$1" --migrations "$WORK/rel/$2"
}

deploy_rel v1 v1
t_check "v1: deployed" eq "$RC $(state_release)" "0 v1"
t_check "v1: schema version 1" eq "$(schema_version)" 1
t_check "v1: state.json records schema version 1" eq "$(json "$APP/.ballast/state.json" .schema_version)" 1
t_check "v1: migrations uploaded for the release" test -f "$APP/.ballast/releases/v1/migrations/1_audit_log.up.sql"
t_check "v1: a pre-deploy snapshot was taken and recorded" eq "$(json "$APP/.ballast/state.json" '.backup_id | test("^[0-9]{8}T[0-9]{6}Z-")')" true
t_check "v1: the snapshot holds the database only (the volume's failing before never ran)" eq \
	"$("$TOOLS/ballast-backup" --config "$CFG" --json show "$(json "$APP/.ballast/state.json" .backup_id)" | tail -n1 | jq -c '[.manifest.items[] | "\(.type):\(.name)"]')" '["db:app"]'
deploy_rel v2 v2
t_check "v2: deployed, schema 2" eq "$RC $(state_release) $(schema_version)" "0 v2 2"
t_check "v2: history records schema before and after" eq "$(last_history '"\(.schema_before) \(.schema_after)"')" "1 2"
t_check "v2: the snapshot is labelled with the release" contains "$("$TOOLS/ballast-backup" --config "$CFG" --json list | tail -n1)" '"release":"v2"'
run_deploy plan qa --release v3 --migrations "$WORK/rel/v3"
t_check "plan: the application is stopped before the restore" eq "$(printf '%s\n' "$OUT" | grep -oE '^ *[0-9]+\. (stop-app|restore|start-app|rollback-up) ' | awk '{print $2}' | paste -sd,)" "stop-app,restore,start-app,rollback-up"
t_check "plan: stop-app's command" contains "$OUT" "stop '<services running one of images>'"
BASE=$(checksums)
t_check "baseline checksums cover the Pagila tables" test "$(printf '%s\n' "$BASE" | wc -l)" -ge 15

on_v2() { # the invariant after every fault
	local what=$1
	t_check "$what: state.json on v2" eq "$(state_release)" v2
	t_check "$what: no pending record" eq "$(json "$APP/.ballast/state.json" 'has("pending")')" false
	t_check "$what: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"
	t_check "$what: schema version 2" eq "$(schema_version)" 2
	t_check "$what: every table's data unchanged" eq "$(checksums)" "$BASE"
	t_check "$what: lock released" test ! -e "$APP/.ballast/lock"
}

# ---- a migration fails (after an earlier one of the same release applied) ----
deploy_rel v3 v3-failing
t_check "migration fails: exit 1" eq "$RC" 1
t_check "migration fails: rolled back at migrate" contains "$ERR" "rolled-back: v3 failed at migrate"
t_check "migration fails: the table of the good migration is gone" eq "$(psql -At -d app -c "SELECT to_regclass('promo') IS NULL")" t
on_v2 "migration fails"

# ---- up fails after the schema moved ----
touch "$STANDIN/fail-up-v3"
deploy_rel v3 v3
t_check "up fails: rolled back" contains "$ERR" "rolled-back: v3 failed at up"
t_check "up fails: the column of v3 is gone again" eq "$(has_column customer tier)" 0
on_v2 "up fails"
rm "$STANDIN/fail-up-v3"

# ---- health 500: the downgrade runs the stored down SQL ----
echo 500 > "$HTTP_STATE/fail/v3"
deploy_rel v3 v3
t_check "health 500: rolled back at verify" contains "$ERR" "rolled-back: v3 failed at verify"
t_check "health 500: no data restore was needed" lacks "$ERR" "rolled-back-with-restore"
t_check "health 500: the rollback used the stored down SQL" eq "$(last_history '[.steps[].step] | map(select(. == "rollback-schema" or . == "restore")) | join(",")')" "rollback-schema"
on_v2 "health 500"

# ---- health never answers ----
echo hang > "$HTTP_STATE/fail/v3"
deploy_rel v3 v3
t_check "health hangs: rolled back at verify" contains "$ERR" "rolled-back: v3 failed at verify"
on_v2 "health hangs"
rm -f "$HTTP_STATE/fail/v3"

# ---- irreversible migration and health fails: restore from the snapshot ----
echo 500 > "$HTTP_STATE/fail/v3"
n=$(calls_now)
run_deploy -v deploy qa --release v3 --migrations "$WORK/rel/v3-irreversible"
t_check "irreversible: exit 1" eq "$RC" 1
t_check "irreversible: last line says rolled-back-with-restore" contains "$(printf '%s' "$ERR" | tail -n1)" "rolled-back-with-restore: v3 failed at verify"
t_check "irreversible: the refusal named the migration" contains "$ERR" "irreversible"
t_check "irreversible: the dropped column is back" eq "$(has_column customer activebool)" 1
t_check "irreversible: the restore step is in the history" eq "$(last_history '"\(.result) \([.steps[].step | select(. == "restore")] | length)"')" "rolled-back-with-restore 1"
# the services of images stopped before the restore, started by the rollback's up
t_check "irreversible: the restore ran with backend and worker stopped" eq "$(last_restore)" "stopped=backend,worker"
t_check "irreversible: stopped (db not), then the rollback's up" eq "$(compose_cmds "$n")" "up|stop backend worker|up"
t_check "irreversible: stop-app, restore, rollback-up in the history" eq "$(steps_of)" "stop-app,restore,rollback-up"
t_check "irreversible: nothing stays stopped" test ! -s "$STANDIN/stopped"
t_check "irreversible: one line names the services stopped" contains "$ERR" "stop-app: backend, worker (while the database is restored)"
on_v2 "irreversible"

# ---- the restore fails: the stopped services start again ----
touch "$WORK/fail-restore"
n=$(calls_now)
deploy_rel v3 v3-irreversible
t_check "restore fails: exit 4, failed-needs-attention" eq "$RC $(last_history .result)" "4 failed-needs-attention"
t_check "restore fails: the restore ran with backend and worker stopped" eq "$(last_restore)" "stopped=backend,worker"
t_check "restore fails: stopped, then started again" eq "$(compose_cmds "$n")" "up|stop backend worker|start backend worker"
t_check "restore fails: stop-app, restore, start-app in the history" eq "$(steps_of)" "stop-app,restore,start-app"
t_check "restore fails: nothing stays stopped" test ! -s "$STANDIN/stopped"
rm -f "$WORK/fail-restore" "$HTTP_STATE/fail/v3"
# the recovery restores, with the interrupted release's services stopped
n=$(calls_now)
run_deploy rollback qa
t_check "restore fails: the rollback completes it with the snapshot" eq "$RC $(last_history '"\(.action) \(.result)"')" "0 recover rolled-back-with-restore"
t_check "restore fails: the recovery's restore ran with backend and worker stopped" eq "$(last_restore)" "stopped=backend,worker"
t_check "restore fails: the recovery stopped, then up" eq "$(compose_cmds "$n")" "stop backend worker|up"
on_v2 "recovered after a failed restore"

# ---- restore_stop_services: [] stops nothing ----
jq '.environments.qa.restore_stop_services = []' "$CFG" > "$CFG.tmp" && mv "$CFG.tmp" "$CFG"
echo 500 > "$HTTP_STATE/fail/v3"
n=$(calls_now)
deploy_rel v3 v3-irreversible
t_check "restore_stop_services []: rolled back with restore" eq "$RC $(last_history .result)" "1 rolled-back-with-restore"
t_check "restore_stop_services []: the restore ran with nothing stopped" eq "$(last_restore)" "stopped="
t_check "restore_stop_services []: no stop or start" eq "$(compose_cmds "$n")" "up|up"
t_check "restore_stop_services []: no stop-app step" eq "$(steps_of)" "restore,rollback-up"
on_v2 "restore_stop_services []"
jq 'del(.environments.qa.restore_stop_services)' "$CFG" > "$CFG.tmp" && mv "$CFG.tmp" "$CFG"
rm -f "$HTTP_STATE/fail/v3"

# ---- data_restore never: the same fault needs attention ----
sed -i 's/"data_restore": "if-irreversible"/"data_restore": "never"/' "$CFG"
echo 500 > "$HTTP_STATE/fail/v3"
deploy_rel v3 v3-irreversible
t_check "irreversible, data_restore never: exit 4" eq "$RC" 4
t_check "irreversible, data_restore never: failed-needs-attention" contains "$ERR" "failed-needs-attention"
t_check "irreversible, data_restore never: says why" contains "$ERR" "no data restore is allowed"
rm -f "$HTTP_STATE/fail/v3"
sed -i 's/"data_restore": "never"/"data_restore": "if-irreversible"/' "$CFG"
run_deploy rollback qa
t_check "rollback completes it with the snapshot" eq "$RC" 0
on_v2 "after the rollback"

# ---- the rollback command restores with the running release's services stopped ----
deploy_rel v3 v3-irreversible
t_check "irreversible deployed" eq "$RC $(state_release)" "0 v3"
n=$(calls_now)
run_deploy rollback qa
t_check "rollback over an irreversible migration: restored" eq "$RC $(last_history .result)" "0 rolled-back-with-restore"
t_check "rollback over an irreversible migration: the restore ran with backend and worker stopped" eq "$(last_restore)" "stopped=backend,worker"
t_check "rollback over an irreversible migration: stopped, then up" eq "$(compose_cmds "$n")" "stop backend worker|up"
t_check "rollback over an irreversible migration: stop-app, restore, rollback-up" eq "$(steps_of)" "stop-app,restore,rollback-up"
on_v2 "rollback over an irreversible migration"

# ---- a good v3 ----
deploy_rel v3 v3
t_check "v3: deployed, schema 3" eq "$RC $(state_release) $(schema_version)" "0 v3 3"
run_deploy rollback qa
t_check "rollback v3 -> v2: exit 0, schema 2" eq "$RC $(state_release) $(schema_version)" "0 v2 2"
t_check "rollback v3 -> v2: column gone" eq "$(has_column customer tier)" 0
run_deploy status qa
t_check "status shows the schema version" contains "$OUT" "schema       version 2"
t_check "status shows the last backup" contains "$OUT" "last backup  20"

# ---- deploy --bundle: the release's migrations come from the CI bundle ----
mkdir -p "$WORK/cib"
cp "$APP/docker-compose.yml" "$WORK/cib/"
cp -r "$WORK/rel/v3" "$WORK/cib/migrations"
tar -C "$WORK/cib" -czf "$WORK/cib.tgz" .
run_deploy deploy qa --release v3b --bundle "$WORK/cib.tgz"
t_check "--bundle: deployed, schema 3" eq "$RC $(state_release) $(schema_version)" "0 v3b 3"
t_check "--bundle: the bundle's migrations are the release's" diff -r "$WORK/rel/v3" "$APP/.ballast/releases/v3b/migrations"
t_check "--bundle: bundle.json hashes every migration" eq \
	"$(json "$APP/.ballast/releases/v3b/bundle.json" '[.files | keys[] | select(startswith("migrations/"))] | length')" "$(ls "$WORK/rel/v3" | wc -l)"
t_check "--bundle: nothing staged is left" eq "$(ls -A "$APP/.ballast/incoming")" ""
run_deploy rollback qa
t_check "rollback from a --bundle deploy: v2, schema 2" eq "$RC $(state_release) $(schema_version)" "0 v2 2"

t_done

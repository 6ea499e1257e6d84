#!/usr/bin/env bash
# services: pg
# The audit_app example's migrations with ballast-migrate on a real
# PostgreSQL: they apply in order, the irreversible dedupe merges what it
# should, down goes back to the last reversible point without losing a row,
# and a downgrade across the irreversible migration is refused.
. "$(dirname "$0")/lib.sh"
ex=$S/examples/audit_app
mig=$B/ballast-migrate
svc=${BALLAST_TEST_SVC:?}/pg
base=$(sed 's/dbname=[^ ]*//' "$svc/conninfo")
db="$base dbname=audit_app_example"
sql() { psql "$db" -X -v ON_ERROR_STOP=1 -qtA -c "$1"; }

psql "$base dbname=postgres" -X -qc "DROP DATABASE IF EXISTS audit_app_example" -c "CREATE DATABASE audit_app_example" \
	&& t_ok || t_fail "cannot create the database"
# The example's ballast.json supplies migrations.dir and the table; the
# database is the test server's instead of the Docker socket it names.
mg() { local cmd=$1; shift; "$mig" --config "$ex/ballast.json" "$cmd" --database "$db" "$@"; }

V1=20261101090000 V2=20261101090100 V3=20261105080000 V4=20261108120000 V5=20261115100000

t_run 0 mg status --json
t_contains "$t_out" '"current_version":0' "empty database"

# Up to the events table, then data the dedupe has to merge.
t_run 0 mg up --to $V2 --release v1.0.0
sql "INSERT INTO actors (kind, external_id) VALUES ('user', 'Alice'), ('user', 'alice'), ('user', 'ALICE'), ('user', 'bob');
     INSERT INTO events (actor_id, action, object_type, occurred_at)
     SELECT id, 'login', 'session', now() - interval '1 hour' FROM actors WHERE kind = 'user';
     INSERT INTO events (actor_id, action, object_type, occurred_at) VALUES (1, 'boot', 'system', now() - interval '2 years');" \
	&& t_ok || t_fail "seed data"

t_run 0 mg up --release v1.1.0
t_run 0 mg status --json
t_contains "$t_out" "\"current_version\":$V5" "all applied"
[ "$(sql "SELECT count(*) FROM actors WHERE kind = 'user'")" = 2 ] && t_ok || t_fail "dedupe left $(sql "SELECT count(*) FROM actors WHERE kind = 'user'") users, want 2"
[ "$(sql "SELECT count(DISTINCT actor_id) FROM events WHERE action = 'login'")" = 2 ] && t_ok || t_fail "events not re-pointed"
[ "$(sql "SELECT count(*) FROM events")" = 5 ] && t_ok || t_fail "events lost by the dedupe"
# Retention partitions: this month's rows moved out of the default partition.
month=$(sql "SELECT to_char(now(), 'YYYYMM')")
[ "$(sql "SELECT count(*) FROM events_$month")" = 4 ] && t_ok || t_fail "events_$month does not hold this month's rows"
[ "$(sql "SELECT count(*) FROM events_default")" = 1 ] && t_ok || t_fail "the 2-year-old row left events_default"
sql "INSERT INTO events (actor_id, action, object_type) VALUES (1, 'deploy', 'release')" && t_ok || t_fail "insert after partitioning"
[ "$(sql "SELECT tableoid::regclass FROM events WHERE action = 'deploy'")" = "events_$month" ] && t_ok || t_fail "new row not routed to events_$month"
[ "$(sql "SELECT count(*) FROM pg_indexes WHERE indexname = 'actors_display_name_idx'")" = 1 ] && t_ok || t_fail "concurrent index missing"
# Case-insensitive uniqueness is now enforced.
sql "INSERT INTO actors (kind, external_id) VALUES ('user', 'BOB')" 2>/dev/null && t_fail "duplicate BOB accepted" || t_ok

t_run 0 mg status
t_contains "$t_out" "IRREVERSIBLE" "status shows the irreversible migration"
t_run 0 mg plan --to $V2 --json
t_contains "$t_out" "\"irreversible\":[$V3]" "plan names the irreversible step"

# Down to the last reversible point: V5 and V4 reverted from stored SQL.
t_run 0 mg down --to $V3 --json
t_contains "$t_out" "\"reverted\":[$V5,$V4]" "reverted V5 and V4"
t_run 0 mg status --json
t_contains "$t_out" "\"current_version\":$V3" "at the last reversible point"
[ "$(sql "SELECT count(*) FROM events")" = 6 ] && t_ok || t_fail "rows lost folding partitions back"
[ "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")" = 1 ] && t_ok || t_fail "monthly partitions left behind"
[ "$(sql "SELECT count(*) FROM pg_proc WHERE proname LIKE 'audit_%'")" = 0 ] && t_ok || t_fail "retention functions left behind"
[ -z "$(sql "SELECT to_regclass('retention_policies')")" ] && t_ok || t_fail "retention_policies left behind"

# Across the irreversible dedupe: refused, nothing changed.
t_run 1 mg down --to $V2
t_lines "$t_err" 1 "refusal is one line"
t_contains "$t_err" "irreversible" "refusal says why"
t_contains "$t_err" "$V3" "refusal names the migration"
t_run 1 mg down
t_contains "$t_err" "irreversible" "one step down is refused too"
t_run 0 mg status --json
t_contains "$t_out" "\"current_version\":$V3" "version unchanged after the refusal"
[ "$(sql "SELECT count(*) FROM actors")" = 3 ] && t_ok || t_fail "actors changed by a refused downgrade"

# And forward again.
t_run 0 mg up --release v1.1.1
t_run 0 mg status --json
t_contains "$t_out" "\"current_version\":$V5" "up again"
[ "$(sql "SELECT count(*) FROM events_$month")" = 5 ] && t_ok || t_fail "rows not moved back into events_$month"
t_done

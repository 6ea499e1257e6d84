#!/usr/bin/env bash
# ballast-backup drill --pitr against a real PostgreSQL 15 that archives
# through ballast-backup wal-push: a base backup, rows after it, a restore
# point, more rows. A drill to the end of the archive sees every row, one to
# the restore point exactly the rows before it; a check that fails, a
# restore point never reached and a WAL object missing from the repository
# are exit 4 (the last naming the segment) and count as failed drills. The
# live server and its data directory are untouched, the metrics textfile
# has the RTO and RPO gauges, and no scratch directory or postgres is left.
# A plain drill (the weekly timer's) drills the base backup item the same
# way, run as root (the scratch server then runs as the postgres user).
. "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-drillpitr-XXXXXX")
chmod 755 "$WORK"
PGDIR=$WORK/pg
cleanup() {
	"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
# 1 MiB segments: every switch archives little, and segment names are not
# the default size's
PG_EXTRA_OPTS="-c archive_mode=on -c wal_level=replica" PG_INITDB_OPTS="--wal-segsize=1" \
	"$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || exit 1
PGPORT=$(cat "$PGDIR/port")
BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres
OWNER=$(stat -c %U "$PGDIR/data")
# archive_command, wal-fetch and the drills run as the server's user
as_owner() { if [ "$(id -u)" = 0 ]; then setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@"; else "$@"; fi; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

CFG=$WORK/ballast.json
mkdir -p "$WORK/repo" "$WORK/state" "$WORK/scratch" "$WORK/scratch-root"
cat > "$CFG" <<JSON
{ "project": "dp", "state_dir": "$WORK/state",
  "repository": { "type": "local", "path": "$WORK/repo" },
  "metrics": { "textfile": "$WORK/state/ballast.prom" },
  "drill": { "scratch_dir": "$WORK/scratch-root" },
  "databases": [ { "name": "app", "mode": "physical", "pg_bindir": "$BINDIR",
                   "conninfo": "host=$PGDIR port=$PGPORT user=postgres dbname=postgres" } ] }
JSON
chmod 644 "$CFG"
"$B/ballast-backup" --config "$CFG" init >/dev/null || exit 1
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$WORK/repo/dp" "$WORK/state" "$WORK/scratch"
BB() { as_owner "$B/ballast-backup" --config "$CFG" "$@"; }
PITR_WAL=$WORK/repo/dp/wal/app
. "$S/tests/scripts/pitr_lib.sh"
# drill ARGS...: the --json result line's report in $REP, stderr in $t_err
drill() {
	t_run "$1" as_owner "$B/ballast-backup" --config "$CFG" --json drill "${@:2}"
	REP=$(printf '%s\n' "$t_out" | tail -n1 | jq -c '.report // .result.report')
}
rows_t() { printf '%s' "$REP" | jq -r '.databases[0].tables[] | select(.database == "postgres" and .table == "public.t") | .rows'; }
# what a drill must not touch: the live server's rows, its postmaster and
# The data directory's own entries (what a drill that wrote there would
# leave: recovery.signal, backup_label, a marker) and its control file's
# identity and timeline. Not the whole tree: the server changes it as it
# runs (autovacuum's first visit to a database writes its pg_internal.init,
# vacuuming the catalogs adds _fsm/_vm files, once a naptime).
live_state() {
	q "SELECT count(*), md5(string_agg(what, ',' ORDER BY id)) FROM t"
	head -n1 "$PGDIR/data/postmaster.pid"
	(cd "$PGDIR/data" && find . -mindepth 1 -maxdepth 1 | sort)
	"$BINDIR/pg_controldata" "$PGDIR/data" | grep -E "^Database system identifier|TimeLineID"
	ls "$PGDIR"
}

q "ALTER SYSTEM SET archive_command = '$B/ballast-backup --config $CFG wal-push %p'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
q "CREATE TABLE t (id serial PRIMARY KEY, what text NOT NULL)" >/dev/null
q "INSERT INTO t (what) SELECT 'before-' || g FROM generate_series(1, 100) g" >/dev/null
t_check "the archiver sends a finished segment through wal-push" wait_archived "$(switch)"
BB run >/dev/null 2>"$WORK/run.err"
t_check "a base backup" eq "$?" 0
q "INSERT INTO t (what) SELECT 'after-backup-' || g FROM generate_series(1, 50) g" >/dev/null
# a time after those 50 commits and before the next ones
T=$(q "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
t_run 0 as_owner "$B/ballast-backup" --config "$CFG" restore-point --wait-archived 60s p1
q "INSERT INTO t (what) SELECT 'after-point-' || g FROM generate_series(1, 25) g" >/dev/null
LAST=$(switch)
t_check "the segment with the last rows is archived" wait_archived "$LAST"
BEFORE=$(live_state)

t_run 2 as_owner "$B/ballast-backup" --config "$CFG" drill --name p1
t_contains "$t_err" "need --pitr" "--name without --pitr: exit 2"
t_run 2 as_owner "$B/ballast-backup" --config "$CFG" drill --pitr --name p1 --latest
t_contains "$t_err" "at most one of" "two targets: exit 2"

# ---- to the end of the archive ----
printf 'SELECT count(*) = 175 FROM t;\n' > "$WORK/all.sql"
chmod 644 "$WORK/all.sql"
drill 0 --pitr --latest --scratch-dir "$WORK/scratch" --check-sql "app=$WORK/all.sql"
t_check "--latest: passed" eq "$(printf '%s' "$REP" | jq -r '.result')" passed
t_check "--latest: every row committed before the last switch" eq "$(rows_t)" 175
t_check "--latest: the SQL check ran and passed" eq "$(printf '%s' "$REP" | jq -r '[.databases[0].checks[] | .ok] | join(",")')" true
t_check "--latest: RTO split into extract, recovery and checks" eq "$(printf '%s' "$REP" | jq -r '.databases[0] | [.extract_seconds, .recovery_seconds, .checks_seconds, .rto_seconds] | map(type == "number" and . >= 0) | all')" true
t_check "--latest: RTO covers its parts" eq "$(printf '%s' "$REP" | jq -r '.databases[0] | .rto_seconds >= .extract_seconds + .recovery_seconds')" true
t_check "--latest: an RPO from the newest replayed commit" eq "$(printf '%s' "$REP" | jq -r '.databases[0] | (.rpo_seconds | type) + " " + (.last_replayed_commit | type)')" "number string"
t_check "--latest: the scratch directory is removed" eq "$(printf '%s' "$REP" | jq -r '.databases[0].scratch_removed')" true
t_check "--latest: the report is stored beside the backup" test -n "$(find "$WORK/repo/dp/backups" -name 'drill-*.json')"
RTO=$(printf '%s' "$REP" | jq -r '.databases[0] | "rto \(.rto_seconds)s (extract \(.extract_seconds)s, recovery \(.recovery_seconds)s), rpo \(.rpo_seconds)s"')
echo "# drill --pitr --latest: $RTO"

# ---- SIGKILL while the scratch server runs ----
# (setpriv execs: $! is the drill itself; a function would stay in between)
# Its check sleeps, so that its server is certainly up when the kill comes,
# however fast recovery of this small database is.
echo "SELECT pg_sleep(600) IS NOT NULL;" > "$WORK/sleep.sql"
chmod 644 "$WORK/sleep.sql"
if [ "$(id -u)" = 0 ]; then
	setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- \
		"$B/ballast-backup" --config "$CFG" drill --pitr --latest --scratch-dir "$WORK/scratch" \
		--check-sql "app=$WORK/sleep.sql" >/dev/null 2>&1 &
else
	"$B/ballast-backup" --config "$CFG" drill --pitr --latest --scratch-dir "$WORK/scratch" \
		--check-sql "app=$WORK/sleep.sql" >/dev/null 2>&1 &
fi
KPID=$!
for _ in $(seq 1 600); do compgen -G "$WORK/scratch/ballast-drill-dp-app-*/data/postmaster.pid" >/dev/null && break; sleep 0.05; done
t_check "the killed drill had its scratch server running" test -n "$(compgen -G "$WORK/scratch/ballast-drill-dp-app-*/data/postmaster.pid")"
kill -9 "$KPID"; wait "$KPID" 2>/dev/null
for _ in $(seq 1 100); do [ "$(pgrep -fc -- "-D $WORK/scratch")" = 0 ] && break; sleep 0.1; done
t_check "SIGKILL: the scratch server dies with the drill" eq "$(pgrep -fc -- "-D $WORK/scratch")" 0
t_check "SIGKILL: its scratch directory is left" eq "$(find "$WORK/scratch" -mindepth 1 -maxdepth 1 | wc -l)" 1

# A killed postmaster's children, and the wal-fetch its startup process
# runs, live on for a moment in the data directory and write into it (CI
# saw the removal fail, "Directory not empty"). This one stays 3 s and then
# says whether the directory was still there: the next drill must wait.
KDATA=$(compgen -G "$WORK/scratch/ballast-drill-dp-app-*/data")
as_owner bash -c 'cd "$1" && echo ready && sleep 3 && { [ -d "$1" ] && echo present || echo gone; }' \
	straggler "$KDATA" > "$WORK/straggler.out" &
SPID=$!
for _ in $(seq 1 300); do grep -q ready "$WORK/straggler.out" && break; sleep 0.1; done

# ---- to the restore point (and the killed drill's leftovers removed) ----
drill 0 --pitr --name p1 --scratch-dir "$WORK/scratch"
wait "$SPID"
t_check "a process still working in the killed drill's directory is waited for" eq "$(tail -n 1 "$WORK/straggler.out")" present
t_contains "$t_out" "left by an interrupted drill" "the next drill removes the killed one's scratch directory"
t_check "only the killed drill's directory was there to remove" eq "$(find "$WORK/scratch" -mindepth 1 | wc -l)" 0
t_check "--name p1: exactly the rows before the point" eq "$(rows_t)" 150
t_check "--name p1: no RPO for a chosen point" eq "$(printf '%s' "$REP" | jq -r '.databases[0].rpo_seconds')" null
# ---- a scratch directory whose run holds its lock stays ----
# Names cannot tell runs apart (project "dp-app" with a database "x" would
# share this prefix): only the lock says a directory is another run's. One
# without a lock file and old is a killed run's from before the lock.
HELD=$WORK/scratch/ballast-drill-dp-app-held00
OLDS=$WORK/scratch/ballast-drill-dp-app-old000
as_owner mkdir -p "$HELD/data" "$OLDS/data"
as_owner touch -d '2 hours ago' "$OLDS"
exec 9>"$HELD/.ballast.lock"
flock 9
drill 0 --pitr --time "$T" --scratch-dir "$WORK/scratch" 9>&-
t_check "a scratch directory whose lock is held is left alone" test -d "$HELD/data"
t_check "an old one without a lock file is removed" test ! -e "$OLDS"
exec 9>&-
t_check "--time: exactly the rows committed before it" eq "$(rows_t)" 150
drill 4 --pitr --name p1 --scratch-dir "$WORK/scratch" --check-sql "app=$WORK/all.sql"
t_check "--name p1 with a check that does not hold there: failed" eq "$(printf '%s' "$REP" | jq -r '.result')" failed
t_contains "$t_err" "1 SQL check failed" "the failed check is named"
drill 4 --pitr --name never-made --scratch-dir "$WORK/scratch"
t_contains "$t_err" 'ended before it reached restore point "never-made"' "a restore point never reached: exit 4"

# ---- a WAL object missing from the repository ----
# the segment the restore point switched away from: after the base
# backup, before the newest (a missing newest one is just an earlier end)
GONE=$(archived | grep -B1 -x "$LAST" | head -n1)
OBJ=$(find "$WORK/repo/dp/wal/app" -type f -name "$GONE-*" | head -n1)
t_check "a segment between the base backup and the newest is in the repository" test -n "$OBJ" -a "$GONE" != "$LAST"
mv "$OBJ" "$WORK/held"
drill 4 --pitr --latest --scratch-dir "$WORK/scratch"
t_contains "$t_err" "wal segment $GONE is missing from the archive" "a missing WAL segment: exit 4 naming it"
t_check "the missing segment: a failed drill in the report" eq "$(printf '%s' "$REP" | jq -r '.result')" failed
mv "$WORK/held" "$OBJ"

# ---- the plain drill of the timer, as root: the base backup item ----
if [ "$(id -u)" = 0 ]; then
	t_run 0 "$B/ballast-backup" --config "$CFG" --json drill --latest
	REP=$(printf '%s\n' "$t_out" | tail -n1 | jq -c '.report')
	t_check "plain drill: the base backup item gets a point-in-time drill" eq "$(printf '%s' "$REP" | jq -r '.databases[0] | "\(.mode) \(.result) \(.target)"')" "pitr passed latest"
	t_check "plain drill: every row" eq "$(rows_t)" 175
	t_check "plain drill: in drill.scratch_dir, removed" eq "$(printf '%s' "$REP" | jq -r '.databases[0] | "\(.scratch_directory | startswith("'"$WORK/scratch-root/"'")) \(.scratch_removed)"')" "true true"
fi

# ---- what is left ----
t_check "the live server's rows, postmaster and data directory are untouched" eq "$(live_state)" "$BEFORE"
t_check "no scratch directory is left" eq "$(find "$WORK/scratch" "$WORK/scratch-root" -mindepth 1 | wc -l)" 0
t_check "nothing of the drills reached the archive (no timeline history file)" eq "$(find "$WORK/repo/dp/wal/app" -name '*.history*' | wc -l)" 0
t_check "no scratch postgres is left" eq "$(pgrep -fc -- "-D $WORK/scratch")" 0
PROM=$(cat "$WORK/state/ballast.prom")
t_check "metrics: the RTO gauge" contains "$PROM" 'ballast_drill_rto_seconds{project="dp",database="app"} '
t_check "metrics: the RPO gauge" contains "$PROM" 'ballast_drill_rpo_seconds{project="dp",database="app"} '
t_check "metrics: three failed drills counted" contains "$PROM" 'ballast_drill_failures_total{project="dp"} 3'
t_done

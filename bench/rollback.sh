#!/usr/bin/env bash
# bench/rollback.sh: a deploy whose release fails and is rolled back with its
# data, two ways, on one PostgreSQL 15 cluster and one database (#20):
#
#   dump           "snapshot": true: the deploy's snapshot step is a
#                  logical dump (`ballast-backup run --only db:app`); the
#                  rollback restores it (`restore --latest --db app`: a
#                  scratch database, counted, swapped in by renames).
#   restore-point  "snapshot": "restore-point": the snapshot step is
#                  `restore-point --wait-archived`; the rollback stops the
#                  server, recovers a copy of the last base backup to the
#                  point (`restore --pitr --name`) and starts it again.
#
# Both are real `ballast-deploy deploy` runs (local transport, the test
# suite's compose stand-in and health server): release v2 applies an
# irreversible migration that writes, its health check answers 500, so the
# deploy ends "rolled-back-with-restore". Each round runs both, the one going
# first alternating; before each timed deploy (untimed): for restore-point a
# fresh base backup, then, for both, BENCH_CHURN rows of ordinary writes (the
# WAL a point-in-time recovery replays between the nightly base backup and
# the deploy). Wall time end to end and the history's per-step times; after
# each rollback the rows are counted against the count before the deploy
# (the bench fails if a rollback lost or kept a row).
#
#   bench/rollback.sh [BUILD_DIR]   BENCH_ROWS (orders, default 1,000,000),
#                                   BENCH_CHURN (default 100,000), RUNS (3)
# Needs jq, curl, python3 (the health server); as root, the server runs as
# its data directory's owner.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
build=$(cd "${1:-$top/build}" && pwd)
RUNS=${RUNS:-3} ROWS=${BENCH_ROWS:-1000000} CHURN=${BENCH_CHURN:-100000}
[ -x "$build/ballast-deploy" ] || { echo "bench: $build/ballast-deploy not built" >&2; exit 2; }

svc=$(mktemp -d /tmp/ballast-bench-rollback-svc-XXXXXX)
chmod 755 "$svc"
"$top/tests/services/http.sh" start "$svc/http" >/dev/null || { echo "bench: cannot start the health server" >&2; exit 1; }
export BALLAST_TEST_SVC=$svc BALLAST_BINARY_DIR=$build BALLAST_SOURCE_DIR=$top
. "$top/tests/scripts/deploy_lib.sh"
PGDIR=$WORK/pg
cleanup() {
	"$top/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1
	"$top/tests/services/http.sh" stop "$svc/http" >/dev/null 2>&1
	rm -rf "$WORK" "$svc"
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }

PG_EXTRA_OPTS="-c archive_mode=on -c wal_level=replica" "$top/tests/services/pg.sh" start "$PGDIR" >/dev/null ||
	die "cannot start PostgreSQL"
PGPORT=$(cat "$PGDIR/port") BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres PATH="$BINDIR:$PATH"
OWNER=$(stat -c %U "$PGDIR/data")
bpsql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d app -c "$1"; }
echo "generating $ROWS orders..." >&2
bench_gen_db bpsql app "$ROWS" || die "cannot generate the database"

# pg.sh passed the server's options on pg_ctl's command line: the
# restore-point environment's start_command gives them again
PGOPTS="-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGDIR -c fsync=off -c max_connections=100 -c shared_buffers=64MB -c archive_mode=on -c wal_level=replica"
if [ "$(id -u)" = 0 ]; then RUNAS='"runuser", "-u", "'$OWNER'", "--", '; else RUNAS=; fi
STOP="[${RUNAS}\"$BINDIR/pg_ctl\", \"-D\", \"$PGDIR/data\", \"-m\", \"fast\", \"-w\", \"stop\"]"
START="[${RUNAS}\"$BINDIR/pg_ctl\", \"-D\", \"$PGDIR/data\", \"-l\", \"$PGDIR/server.log\", \"-w\", \"-o\", \"$PGOPTS\", \"start\"]"

mkdir -p "$WORK/rel/v1" "$WORK/rel/v2"
echo "CREATE TABLE deploy_marker (id int);" > "$WORK/rel/v1/1_marker.up.sql"
echo "DROP TABLE deploy_marker;" > "$WORK/rel/v1/1_marker.down.sql"
cp "$WORK/rel/v1/"* "$WORK/rel/v2/"
echo "INSERT INTO deploy_marker VALUES (2); DELETE FROM orders WHERE id % 1000 = 0; UPDATE customers SET plan = 'v2' WHERE id % 10 = 0;" \
	> "$WORK/rel/v2/2_v2_writes.up.sql"

conninfo="host=$PGDIR port=$PGPORT user=postgres dbname=app"
# env NAME MODE SNAPSHOT [EXTRA]: one configuration per way
declare -A cfg app
env_setup() {
	local name=$1 mode=$2
	TOP_EXTRA="\"repository\": {\"type\": \"local\", \"path\": \"$WORK/$name/repo\"},
  \"databases\": [{\"name\": \"app\", \"mode\": \"$mode\", \"conninfo\": \"$conninfo\", \"pg_bindir\": \"$BINDIR\"}],
  \"migrations\": {\"database\": \"app\", \"dir\": \"migrations\"},"
	SNAPSHOT=$3 DATA_RESTORE=if-irreversible HEALTH_DEADLINE=1s \
		EXTRA=", \"config\": \"$WORK/$name/ballast.json\"${4:-}" new_env "$name"
	chmod 644 "$CFG"
	mkdir -p "$WORK/$name/repo"
	"$TOOLS/ballast-backup" --config "$CFG" init >/dev/null || die "$name: init failed"
	cfg[$name]=$CFG app[$name]=$APP
}
env_setup dump logical true
env_setup rp physical '"restore-point"' \
	", \"pitr\": {\"data_dir\": \"$PGDIR/data\", \"stop_command\": $STOP, \"start_command\": $START, \"archive_wait\": \"120s\"}"
# wal-push runs as the server's owner
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$WORK/rp/repo/t"
q "ALTER SYSTEM SET archive_command = '$TOOLS/ballast-backup --config ${cfg[rp]} wal-push %p'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
"$TOOLS/ballast-backup" --config "${cfg[rp]}" run >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; die "base backup failed"; }
dbbytes=$(q "SELECT pg_database_size('app')")
clusterbytes=$(du -sb "$PGDIR/data" | cut -f1)

# the current release, v1, deployed once in each environment (untimed)
for name in dump rp; do
	CFG=${cfg[$name]} APP=${app[$name]}
	run_deploy deploy qa --release v1 --migrations "$WORK/rel/v1"
	[ "$RC" = 0 ] || die "$name: deploying v1 failed: $ERR"
done
echo 500 > "$HTTP_STATE/fail/v2"

raw=$WORK/raw.tsv
: > "$raw"
count() { q "SELECT count(*) || '/' || coalesce(sum(id), 0) FROM orders"; }
one() { # NAME ROUND
	local name=$1 r=$2 before after t0 t1 steps
	CFG=${cfg[$name]} APP=${app[$name]}
	if [ "$name" = rp ]; then
		rm -rf "$PGDIR"/data.ballast-old-*
		"$TOOLS/ballast-backup" --config "$CFG" run >/dev/null 2>"$WORK/run.err" ||
			{ cat "$WORK/run.err" >&2; die "rp round $r: base backup failed"; }
	fi
	q "UPDATE orders SET note = note || '.' WHERE id % $(( ROWS / CHURN > 0 ? ROWS / CHURN : 1 )) = 0" >/dev/null
	q "CHECKPOINT" >/dev/null
	sync
	before=$(count)
	t0=$(date +%s%N)
	run_deploy deploy qa --release v2 --migrations "$WORK/rel/v2"
	t1=$(date +%s%N)
	[ "$RC" = 1 ] && [ "$(last_history .result)" = rolled-back-with-restore ] ||
		die "$name round $r: expected rolled-back-with-restore, got exit $RC $(last_history .result): $ERR"
	after=$(count)
	[ "$after" = "$before" ] || die "$name round $r: rows before the deploy $before, after the rollback $after"
	steps=$(last_history '[.steps[] | "\(.step)=\(.ms)"] | join(" ")')
	printf '%s\t%s\t%s\t%s\n' "$name" "$r" "$(( (t1 - t0) / 1000000 ))" "$steps" >> "$raw"
	echo "  $name: $(( (t1 - t0) / 1000000 )) ms ($steps)" >&2
}
for r in $(seq 1 "$RUNS"); do
	echo "round $r/$RUNS..." >&2
	if [ $((r % 2)) = 1 ]; then one dump "$r"; one rp "$r"; else one rp "$r"; one dump "$r"; fi
done

python3 - "$raw" "$ROWS" "$CHURN" "$dbbytes" "$clusterbytes" "$RUNS" "$(nproc)" \
	"$("$build/ballast-deploy" --version)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
raw, rows, churn, dbbytes, clusterbytes, runs, cores, version, load = sys.argv[1:10]
v = {}
for line in open(raw):
    name, _r, wall, steps = line.rstrip("\n").split("\t")
    e = v.setdefault(name, {"wall": [], "steps": {}})
    e["wall"].append(int(wall))
    for s in steps.split():
        k, ms = s.split("=")
        e["steps"].setdefault(k, []).append(int(ms))
med = statistics.median
label = {"dump": "pre-deploy dump", "rp": "restore point"}
print(f"# deploy rollback with restore: restore point against pre-deploy dump ({version})\n")
print(f"Database `app`: {rows} orders, {int(dbbytes)/1e6:.0f} MB (cluster data directory "
      f"{int(clusterbytes)/1e6:.0f} MB); {churn} rows updated before each deploy; "
      f"{runs} rounds on {cores} cores, the two in turn, the first alternating; "
      f"load average at the end {load}. Median [min-max] ms.\n")
steps = ["snapshot", "migrate", "stop-app", "stop-db", "restore", "start-db"]
print("| way | deploy, end to end | " + " | ".join(steps) + " |")
print("| --- | --- | " + " | ".join("---" for _ in steps) + " |")
for name in ("dump", "rp"):
    w = v[name]["wall"]
    cells = []
    for s in steps:
        x = v[name]["steps"].get(s)
        cells.append(f"{med(x):.0f}" if x else "-")
    print(f"| {label[name]} | {med(w):.0f} [{min(w)}-{max(w)}] | " + " | ".join(cells) + " |")
def stepsum(name, names):
    return med([sum(z) for z in zip(*[v[name]["steps"].get(s, [0] * len(v[name]["wall"])) for s in names])])
data = ["snapshot", "stop-db", "restore", "start-db"]
d, p = stepsum("dump", data), stepsum("rp", data)
print(f"\n- end to end: dump / restore point = {med(v['dump']['wall']) / med(v['rp']['wall']):.2f}x")
print(f"- snapshot step: {med(v['dump']['steps']['snapshot']):.0f} ms dump, "
      f"{med(v['rp']['steps']['snapshot']):.0f} ms restore point "
      f"({med(v['dump']['steps']['snapshot']) / max(med(v['rp']['steps']['snapshot']), 1):.1f}x)")
print(f"- the data's part (snapshot, stop-db, restore, start-db): {d:.0f} ms dump, {p:.0f} ms restore point "
      f"({d / max(p, 1):.2f}x)")
PY

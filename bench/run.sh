#!/usr/bin/env bash
# bench/run.sh: every benchmark pair of docs/BENCHMARKS.md on data it makes
# itself, side by side, written as <date>-<host>.md and .json.
#
#   bench/run.sh [--quick] [--out DIR] [--build DIR] [--rounds N]
#
#   --quick    a few MB database, 2,000 small files, 2.5-4 minutes; pairs
#              5 (migrate) and 6 (deploy) are recorded as skipped. What the
#              test suite smoke-tests (tests/scripts/test_bench_quick.sh).
#   (full)     a database of over 1 GB (4,000,000 orders, 4 indexes) plus a
#              4x copy for the memory pair, 50,000 small files + 6 x 128 MiB,
#              pairs 5 and 6 through bench/migrate.sh and bench/deploy.sh
#              (pair 6 needs root: it creates a throwaway login user).
#   --out DIR  where results go (default bench/results)
#   --build    the build directory holding the binaries (default ./build)
#   --rounds   rounds per pair (default 3, at least 3); in each round every
#              variant of a pair runs once, in turn, so A and B alternate.
#
# Needs /usr/bin/time (GNU), zstd, tar, python3, PostgreSQL server binaries
# (tests/services/pg.sh finds them). Exit 0 with both files written; 1 when a
# measured command failed; 2 on bad usage or a missing tool.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"

quick=0 out=$top/bench/results build=$top/build rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--build) build=${2:?--build needs a directory}; shift ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument '$1' (expected --quick, --out DIR, --build DIR, --rounds N)" >&2; exit 2 ;;
	esac
	shift
done
case $rounds in ''|*[!0-9]*) echo "bench: --rounds '$rounds' is not a number" >&2; exit 2 ;; esac
[ "$rounds" -ge 3 ] || { echo "bench: --rounds must be at least 3, got $rounds" >&2; exit 2; }
[ -d "$build" ] || { echo "bench: build directory $build does not exist (build first, or pass --build DIR)" >&2; exit 2; }
build=$(cd "$build" && pwd)
bin=$build/ballast-backup
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
for t in /usr/bin/time zstd tar python3; do
	command -v "$t" >/dev/null || { echo "bench: $t not installed (scripts/deps.sh)" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ "$quick" = 1 ]; then
	mode=quick rows=20000 small=2000 nlarge=2 large_mb=4
else
	mode=full rows=4000000 small=50000 nlarge=6 large_mb=128
fi
cores=$(nproc)

bench_pg_start ballast-bench-run
ci() { echo "host=$sock port=$port user=postgres dbname=$1"; }
bpsql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

echo "bench: $mode mode, $rounds rounds; generating data in $work..." >&2
t0=$(date +%s)
bench_gen_db bpsql bench "$rows"
bench_gen_db bpsql bench4 $((rows * 4))
bench_gen_tree "$work/tree" "$small" "$nlarge" "$large_mb"
dbbytes=$(bpsql -d postgres -At -c "SELECT pg_database_size('bench')")
db4bytes=$(bpsql -d postgres -At -c "SELECT pg_database_size('bench4')")
treefiles=$(find "$work/tree" -type f | wc -l)
treebytes=$(du -sb --apparent-size "$work/tree" | cut -f1)
echo "bench: data ready in $(( $(date +%s) - t0 )) s" >&2

cat > "$work/ballast.json" <<JSON
{ "project": "bench", "state_dir": "$work/state",
  "repository": { "type": "local", "path": "$work/repo" },
  "compression": { "level": 3, "threads": 0 },
  "databases": [ { "name": "bench", "conninfo": "$(ci bench)" },
                 { "name": "bench4", "conninfo": "$(ci bench4)" } ],
  "volumes": [ { "name": "vol", "path": "$work/tree" } ] }
JSON
B=("$bin" --config "$work/ballast.json" -q)
mkdir -p "$work/enc"; bench_age_setup "$work/enc" "$(ci bench)" "$bin"
latest_obj() { find "$work/repo" -name "$1" -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2; }
raw=$work/raw.tsv
: > "$raw"
# Every measurement starts from a settled machine: the previous command's
# dirty pages written out and the server checkpointed (bench_settle), so a checkpoint
# or write-back that one command caused does not land on the next one.
settle() { bench_settle bpsql; }
m() { settle; bench_measure "$raw" "$@"; }
# The per-stage profile of ballast's restores (#23): each one runs with
# --json, and stages() appends its result's stage times ("timings") to
# stages.tsv, one "PAIR VARIANT ROUND STAGE MS" line each; bench/report.py
# puts their medians beside the wall times. What a stage covers:
# docs/BENCHMARKS.md, "The pairs".
stages_tsv=$work/stages.tsv
: > "$stages_tsv"
stages() {
	python3 - "$1" "$2" "$3" "$4" >> "$stages_tsv" <<'PY'
import json, sys
pair, variant, rnd, path = sys.argv[1:5]
for line in open(path):
    o = json.loads(line)
    if o.get("event") == "result":
        for k, v in o["restored"][0]["timings"].items():
            print(f"{pair}\t{variant}\t{rnd}\t{k}\t{v}")
PY
}
bj() { printf "'%s' --config '%s' -q --json" "$bin" "$work/ballast.json"; }
n=0   # restore target databases are fresh each time
fresh_db() { n=$((n + 1)); d=r_$n; bpsql -d postgres -c "CREATE DATABASE $d" >/dev/null; }
drop_db() { bpsql -d postgres -c "DROP DATABASE $d" >/dev/null; }

# Warm the page cache for every side alike.
tar -cf - -C "$work/tree" . >/dev/null
"$pgbin/pg_dump" -Fc -Z0 -d "$(ci bench)" >/dev/null

for r in $(seq 1 "$rounds"); do
	"${B[@]}" init >/dev/null   # each round starts from an empty repository
	echo "bench: round $r/$rounds" >&2
	# 1. backup
	m backup pg_dump_Fc "$r" "stat -c %s $work/a.dump" -- pg_dump -Fc -f "$work/a.dump" -d "$(ci bench)"
	m backup pg_dump_floor "$r" "" -- sh -c "pg_dump -Fc -Z0 -d '$(ci bench)' > /dev/null"
	m backup pg_dump_zstd "$r" "stat -c %s $work/b.dump.zst" -- \
		sh -c "pg_dump -Fc -Z0 -d '$(ci bench)' | zstd -q -f -T0 -3 -o '$work/b.dump.zst'"
	rm -rf "$work/c.dir"
	m backup pg_dump_Fd_j "$r" "du -sb $work/c.dir | cut -f1" -- \
		pg_dump -Fd -j "$cores" -f "$work/c.dir" -d "$(ci bench)"
	m backup ballast "$r" "find $work/repo -name db-bench.dump.zst -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2" -- \
		"${B[@]}" run --only db:bench

	sha256sum "$work/a.dump" > "$work/a.dump.sha256"

	# 2. restore (the latest backup is the db:bench one just taken)
	# Each restored database is dropped at once: left in place, autovacuum
	# analyses and vacuums its fresh 1.3 GB while the next variant runs.
	fresh_db; m restore pg_restore "$r" "" -- pg_restore -d "$(ci "$d")" --exit-on-error "$work/a.dump"
	drop_db
	fresh_db; m restore ballast "$r" "" -- sh -c "$(bj) restore --latest --db bench --target '$(ci "$d")' > '$work/r.json'"
	stages restore ballast "$r" "$work/r.json"
	drop_db
	# pg_restore with ballast's two checks done by hand (the dump's
	# SHA-256, recorded when it was taken, checked first; every table
	# counted after): context for the pair above, no target
	fresh_db; m restore pg_restore_checked "$r" "" -- sh -c "sha256sum -c --quiet '$work/a.dump.sha256' &&
		pg_restore -d '$(ci "$d")' --exit-on-error '$work/a.dump' &&
		psql -X -q -At -d '$(ci "$d")' -c 'SELECT count(*) FROM customers' -c 'SELECT count(*) FROM orders' > /dev/null"
	drop_db
	fresh_db; m restore pg_restore_j "$r" "" -- pg_restore -j "$cores" -d "$(ci "$d")" --exit-on-error "$work/a.dump"
	drop_db
	fresh_db; m restore ballast_jobs "$r" "" -- sh -c "$(bj) restore --latest --db bench --target '$(ci "$d")' --jobs $cores > '$work/r.json'"
	stages restore ballast_jobs "$r" "$work/r.json"
	[ "$(bpsql -d "$d" -At -c 'SELECT count(*) FROM orders')" = "$rows" ] ||
		{ echo "bench: ballast restore into $d lost rows" >&2; exit 1; }
	drop_db
	# The swap restore (#17) over the live, non-empty database: into a
	# scratch database, counted, renamed in; beside pg_restore -d into an
	# empty one. Its rename step alone is a row of its own ("swap_step",
	# from the restore's --json timings), in seconds.
	m restore ballast_swap "$r" "" -- sh -c "$(bj) restore --latest --db bench --clean --no-keep > '$work/swap.json'"
	stages restore ballast_swap "$r" "$work/swap.json"
	swap_ms=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("event") == "result":
        print(o["restored"][0]["timings"]["swap_ms"])' "$work/swap.json")
	printf 'restore\tswap_step\t%s\t%s\t0\t-1\n' "$r" "$(awk -v ms="$swap_ms" 'BEGIN { printf "%.3f", ms / 1000 }')" >> "$raw"
	[ "$(bpsql -d bench -At -c 'SELECT count(*) FROM orders')" = "$rows" ] ||
		{ echo "bench: the swap restore of bench lost rows" >&2; exit 1; }

	# 3. volume snapshot and its restore
	rm -f "$work/t.tar.zst"
	m volume tar_zstd "$r" "stat -c %s $work/t.tar.zst" -- tar -I 'zstd -T0 -3' -cf "$work/t.tar.zst" -C "$work/tree" .
	m volume ballast "$r" "find $work/repo -name volume-vol.tar.zst -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2" -- \
		"${B[@]}" run --only volume:vol
	rm -rf "$work/x1" "$work/x2" "$work/x3"; mkdir "$work/x1" "$work/x3"
	m volume_restore tar_x "$r" "" -- tar -I zstd -xf "$work/t.tar.zst" -C "$work/x1"
	m volume_restore ballast "$r" "" -- sh -c "$(bj) restore --latest --volume vol --to '$work/x2' --no-keep > '$work/v.json'"
	stages volume_restore ballast "$r" "$work/v.json"
	m volume_restore tar_x_sync "$r" "" -- sh -c "tar -I zstd -xf '$work/t.tar.zst' -C '$work/x3' && sync"
	[ "$(find "$work/x2" -type f | wc -l)" = "$treefiles" ] ||
		{ echo "bench: ballast volume restore into $work/x2 is missing files" >&2; exit 1; }
	rm -rf "$work/x1" "$work/x2" "$work/x3"

	# 4b. encryption (#21): the same backup and restore of the same
	# database in clear and age-encrypted, side by side
	bench_age_round "$r" "$work/enc" "$bin" m fresh_db drop_db ci

	# 4. memory at 1x and 4x the database
	m memory ballast_1x "$r" "" -- "${B[@]}" run --only db:bench
	m memory ballast_4x "$r" "" -- "${B[@]}" run --only db:bench4
	rm -rf "$work/repo" "$work/a.dump" "$work/b.dump.zst" "$work/c.dir"
done

# 5. and 6. delegate to the per-area scripts, which own their setups;
# bench/report.py reads their medians from what they print.
if [ "$quick" = 1 ]; then
	echo "skipped in --quick: 500 migrations under alembic take minutes" > "$work/migrate.out"
	echo "skipped in --quick: needs root to create a login user, and an sshd" > "$work/deploy.out"
else
	RUNS=$rounds "$top/bench/migrate.sh" "$build" > "$work/migrate.out" 2>"$work/migrate.err" ||
		echo "skipped: bench/migrate.sh failed: $(tail -n 1 "$work/migrate.err")" > "$work/migrate.out"
	if [ "$(id -u)" != 0 ]; then
		echo "skipped: needs root (bench/deploy.sh creates a throwaway login user)" > "$work/deploy.out"
	else
		RUNS=$rounds "$top/bench/deploy.sh" "$build" > "$work/deploy.out" 2>"$work/deploy.err" ||
			echo "skipped: bench/deploy.sh failed: $(tail -n 1 "$work/deploy.err")" > "$work/deploy.out"
	fi
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
host=$(hostname -s 2>/dev/null || hostname)
buildtype=$(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || true)
BENCH_MODE=$mode BENCH_ROUNDS=$rounds BENCH_CORES=$cores BENCH_DATE=$stamp BENCH_HOST=$host
BENCH_MEM=$(free -b | awk '/Mem:/ {print $2}')
BENCH_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
BENCH_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_POSTGRES=$("$pgbin/postgres" --version)
BENCH_PG_DUMP=$(pg_dump --version)
BENCH_ZSTD="zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n 1)"
BENCH_TAR=$(tar --version | head -n 1)
BENCH_BALLAST="$("$bin" --version) (${buildtype:-unknown} build)"
BENCH_ORDERS=$rows BENCH_DBBYTES=$dbbytes BENCH_DB4BYTES=$db4bytes
BENCH_TREEFILES=$treefiles BENCH_TREEBYTES=$treebytes
export BENCH_MODE BENCH_ROUNDS BENCH_CORES BENCH_DATE BENCH_HOST BENCH_MEM BENCH_CPU BENCH_LOAD \
	BENCH_POSTGRES BENCH_PG_DUMP BENCH_ZSTD BENCH_TAR BENCH_BALLAST BENCH_ORDERS BENCH_DBBYTES \
	BENCH_DB4BYTES BENCH_TREEFILES BENCH_TREEBYTES
python3 "$top/bench/report.py" "$raw" "$work/migrate.out" "$work/deploy.out" "$out/$stamp-$host" "$stages_tsv"
echo "bench: wrote $out/$stamp-$host.md and .json" >&2

#!/usr/bin/env bash
# bench/migrate.sh: apply N small migrations (default 500) with ballast-migrate
# and with Alembic (Debian's python3-alembic) doing the same SQL, each on a
# fresh database of the same throwaway PostgreSQL cluster, end to end
# (process start, connection, history table, every migration in its own
# transaction). Prints the medians of RUNS runs and the ratio, and writes
# them to bench/results/migrate-<UTC date>.txt.
#
#   bench/migrate.sh [BUILD_DIR]        N=500 RUNS=3 by default
#
# Needs: a built ballast-migrate, /usr/bin/python3 with alembic and
# psycopg2 (scripts/deps.sh installs python3-alembic python3-psycopg2),
# PostgreSQL server binaries (tests/services/pg.sh finds them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
build=${1:-$top/build}
N=${N:-500}
RUNS=${RUNS:-3}
py=/usr/bin/python3
bin=$build/ballast-migrate
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
$py -c 'import alembic, psycopg2' 2>/dev/null || { echo "bench: $py lacks alembic/psycopg2 (run scripts/deps.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/ballast-bench-migrate-XXXXXX)
chmod 755 "$work"
cleanup() { "$top/tests/services/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$top/tests/services/pg.sh" start "$work/pg" >/dev/null
sock=$(cat "$work/pg/host"); port=$(cat "$work/pg/port"); pgbin=$(cat "$work/pg/bindir")
psql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

# The same SQL for both tools, in two sizes: "tiny" (one CREATE TABLE, where
# the tools' own overhead shows) and "small" (a table, an index and a row,
# where the server's work dominates both).
gen() {
	local kind=$1 d=$work/$1
	rm -rf "$d"; mkdir -p "$d/sql" "$d/alembic/versions"
	for i in $(seq 1 "$N"); do
		if [ "$kind" = tiny ]; then
			printf 'CREATE TABLE bench_%d (id int);\n' "$i"
		else
			printf 'CREATE TABLE bench_%d (id int PRIMARY KEY, v text NOT NULL);\nCREATE INDEX bench_%d_v ON bench_%d (v);\nINSERT INTO bench_%d VALUES (1, '"'"'x'"'"');\n' \
				"$i" "$i" "$i" "$i"
		fi > "$d/sql/${i}_bench_$i.up.sql"
		printf 'DROP TABLE bench_%d;\n' "$i" > "$d/sql/${i}_bench_$i.down.sql"
	done
	# Alembic: one revision file per migration executing the same SQL text.
	printf '[alembic]\nscript_location = %s\n' "$d/alembic" > "$d/alembic/alembic.ini"
	cat > "$d/alembic/env.py" <<'PY'
import os
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["BENCH_URL"])
with engine.connect() as connection:
    # Each migration in its own transaction, as ballast does.
    context.configure(connection=connection, target_metadata=None,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
PY
	: > "$d/alembic/script.py.mako"
	$py - "$d" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    sql = open(f"{d}/sql/{i}_bench_{i}.up.sql").read()
    down = open(f"{d}/sql/{i}_bench_{i}.down.sql").read()
    prev = repr(f"r{i-1:05d}") if i > 1 else "None"
    with open(f"{d}/alembic/versions/r{i:05d}.py", "w") as f:
        f.write(f"from alembic import op\nrevision = 'r{i:05d}'\ndown_revision = {prev}\n"
                f"branch_labels = None\ndepends_on = None\n"
                f"def upgrade():\n    op.execute({sql!r})\n"
                f"def downgrade():\n    op.execute({down!r})\n")
PY
}

now_ms() { date +%s%3N; }
median() { bench_median "$@"; }
count_tables() { psql -d "$1" -tAc "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench\_%'"; }

report=()
db=0
for kind in tiny small; do
	gen "$kind"
	d=$work/$kind
	# The floor: psql running the same files, BEGIN/COMMIT around each, no
	# history table. What is left above it is each tool's own overhead.
	for i in $(seq 1 "$N"); do
		printf 'BEGIN;\n'; cat "$d/sql/${i}_bench_$i.up.sql"; printf 'COMMIT;\n'
	done > "$d/all.sql"
	ballast_times=(); alembic_times=(); floor_times=()
	for run in $(seq 1 "$RUNS"); do
		db=$((db + 1))
		psql -d postgres -c "CREATE DATABASE b_$db" -c "CREATE DATABASE a_$db"
		t0=$(now_ms)
		"$bin" up --database "host=$sock port=$port user=postgres dbname=b_$db" --dir "$d/sql" -q
		t1=$(now_ms)
		BENCH_URL="postgresql+psycopg2://postgres@/a_$db?host=$sock&port=$port" \
			$py -m alembic -c "$d/alembic/alembic.ini" upgrade head >/dev/null 2>"$work/alembic.log" \
			|| { cat "$work/alembic.log" >&2; exit 1; }
		t2=$(now_ms)
		psql -d postgres -c "CREATE DATABASE f_$db"
		t3=$(now_ms)
		psql -d "f_$db" -f "$d/all.sql"
		t4=$(now_ms)
		floor_times+=($((t4 - t3)))
		[ "$(count_tables "b_$db")" = "$N" ] || { echo "bench: ballast did not create $N tables" >&2; exit 1; }
		[ "$(count_tables "a_$db")" = "$N" ] || { echo "bench: alembic did not create $N tables" >&2; exit 1; }
		ballast_times+=($((t1 - t0))); alembic_times+=($((t2 - t1)))
		echo "$kind run $run: ballast-migrate $((t1 - t0)) ms, alembic $((t2 - t1)) ms, psql floor $((t4 - t3)) ms" >&2
	done
	b=$(printf '%s\n' "${ballast_times[@]}" | median)
	a=$(printf '%s\n' "${alembic_times[@]}" | median)
	fl=$(printf '%s\n' "${floor_times[@]}" | median)
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 1) }')
	report+=("$kind ($(head -c 60 "$d/sql/1_bench_1.up.sql" | tr '\n' ' ')...):"
		 "  ballast-migrate ms: ${ballast_times[*]}  median $b"
		 "  alembic ms:         ${alembic_times[*]}  median $a"
		 "  psql floor ms:      ${floor_times[*]}  median $fl  (same SQL, no history table)"
		 "  ratio (alembic / ballast-migrate, median): ${ratio}x"
		 "  overhead above the floor (median): ballast-migrate $((b - fl)) ms, alembic $((a - fl)) ms")
done
mkdir -p "$top/bench/results"
out="$top/bench/results/migrate-$(date -u +%Y%m%d).txt"
{
	echo "bench/migrate.sh: $N migrations applied by 'up' from an empty database, each in its own transaction"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm), $(nproc) cpus (shared with other jobs)"
	echo "server: $("$pgbin/postgres" --version), unix socket, fsync=off"
	echo "ballast-migrate $("$bin" --version | awk '{print $2}') from $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2) build)"
	echo "alembic $($py -c 'import alembic; print(alembic.__version__)') with SQLAlchemy $($py -c 'import sqlalchemy; print(sqlalchemy.__version__)'), psycopg2, python $($py -c 'import platform; print(platform.python_version())')"
	echo "runs: $RUNS per workload, fresh database each; end to end wall time of the command"
	printf '%s\n' "${report[@]}"
} | tee "$out"

#!/usr/bin/env bash
# bench/migrate_ente.sh: a real history, Ente's 124 golang-migrate versions
# (tests/data/ente-migrations, with repairs/ over a copy as its NOTICE
# says), applied from an empty database by ballast-migrate `up` and by psql
# running the same files in one session (\i per file, as an operator would;
# no history table, no per-migration transaction: psql's floor), each on a
# fresh database of the same throwaway PostgreSQL cluster, end to end.
# Then, from the stored down SQL alone, ballast-migrate `down --to 0`
# against psql running the same down files. Prints the medians of RUNS
# runs and the ratios, and writes them to
# bench/results/migrate-ente-<UTC date and time>.txt.
#
#   bench/migrate_ente.sh [BUILD_DIR]        RUNS=5 by default
#
# Needs: a built ballast-migrate, /usr/bin/time (GNU), PostgreSQL server
# binaries (tests/services/pg.sh finds them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
build=${1:-$top/build}
RUNS=${RUNS:-5}
bin=$build/ballast-migrate
src=$top/tests/data/ente-migrations
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
[ -d "$src/migrations" ] || { echo "bench: $src/migrations missing" >&2; exit 2; }
case $RUNS in ''|*[!0-9]*|0) echo "bench: RUNS '$RUNS' is not a positive number" >&2; exit 2 ;; esac

work=$(mktemp -d /tmp/ballast-bench-ente-XXXXXX)
chmod 755 "$work"
cleanup() { "$top/tests/services/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$top/tests/services/pg.sh" start "$work/pg" >/dev/null
sock=$(cat "$work/pg/host"); port=$(cat "$work/pg/port"); pgbin=$(cat "$work/pg/bindir")
psql() { PGOPTIONS='-c client_min_messages=warning' "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }
ci() { echo "host=$sock port=$port user=postgres dbname=$1"; }

# The folder as it is, repairs over a copy; one psql script per direction.
mkdir -p "$work/m"
cp "$src/migrations/"*.sql "$work/m/"
cp "$src/repairs/"*.sql "$work/m/"
top_v=$(ls "$work/m" | sed -n 's/^\([0-9]*\)_.*\.up\.sql$/\1/p' | sort -n | tail -1)
for v in $(seq 1 "$top_v"); do printf '\\i %s\n' "$(ls "$work/m/${v}_"*.up.sql)"; done > "$work/up.psql"
for v in $(seq "$top_v" -1 1); do printf '\\i %s\n' "$(ls "$work/m/${v}_"*.down.sql)"; done > "$work/down.psql"
# the stored down SQL alone: this directory does not exist
nodir=$work/no-migrations

secs() { awk '{print $1}'; }
median() { bench_median "$@"; }
bu=(); pu=(); bd=(); pd=()
for run in $(seq 1 "$RUNS"); do
	psql -d postgres -c "CREATE DATABASE b_$run" -c "CREATE DATABASE p_$run"
	# alternate who goes first, so neither always meets a warmer cache
	if [ $((run % 2)) = 1 ]; then order="b p"; else order="p b"; fi
	for who in $order; do
		if [ "$who" = b ]; then
			bu+=("$(bench_time "$work" "bu$run" "$bin" -q up --database "$(ci "b_$run")" --dir "$work/m" | secs)")
		else
			pu+=("$(bench_time "$work" "pu$run" "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d "$(ci "p_$run")" -f "$work/up.psql" | secs)")
		fi
	done
	[ "$(psql -d "b_$run" -tAc 'SELECT max(version) FROM ballast_migrations')" = "$top_v" ] ||
		{ echo "bench: ballast-migrate did not reach $top_v" >&2; exit 1; }
	for who in $order; do
		if [ "$who" = b ]; then
			bd+=("$(bench_time "$work" "bd$run" "$bin" -q down --to 0 --database "$(ci "b_$run")" --dir "$nodir" | secs)")
		else
			pd+=("$(bench_time "$work" "pd$run" "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d "$(ci "p_$run")" -f "$work/down.psql" | secs)")
		fi
	done
	echo "run $run: up ballast ${bu[-1]} s, psql ${pu[-1]} s; down ballast ${bd[-1]} s, psql ${pd[-1]} s" >&2
done
mbu=$(printf '%s\n' "${bu[@]}" | median); mpu=$(printf '%s\n' "${pu[@]}" | median)
mbd=$(printf '%s\n' "${bd[@]}" | median); mpd=$(printf '%s\n' "${pd[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 0.01) }'; }
mkdir -p "$top/bench/results"
out="$top/bench/results/migrate-ente-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
	echo "bench/migrate_ente.sh: Ente's $top_v golang-migrate versions (tests/data/ente-migrations, repairs applied)"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm), $(nproc) cpus (shared with other jobs)"
	echo "server: $("$pgbin/postgres" --version), unix socket, fsync=off"
	echo "ballast-migrate $("$bin" --version | awk '{print $2}') from $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2) build)"
	echo "runs: $RUNS, fresh databases each; end to end wall time (/usr/bin/time) of one command"
	echo "up 0 -> $top_v:   ballast-migrate s: ${bu[*]}  median $mbu"
	echo "               psql -f (\\i per file) s: ${pu[*]}  median $mpu"
	echo "               ratio ballast / psql (median): $(ratio "$mbu" "$mpu")"
	echo "down $top_v -> 0: ballast-migrate (stored SQL, no files) s: ${bd[*]}  median $mbd"
	echo "               psql -f (\\i per down file) s: ${pd[*]}  median $mpd"
	echo "               ratio ballast / psql (median): $(ratio "$mbd" "$mpd")"
	echo "ballast-migrate does more than psql here: a history row per migration with its down SQL,"
	echo "one transaction per migration (psql: autocommit per statement), the advisory lock."
} | tee "$out"

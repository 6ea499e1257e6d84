#!/usr/bin/env bash
# Benchmark: ballast-backup run beside the tools an operator would use instead.
#
#   bench/backup_db.sh [BUILD_DIR]
#
# Starts a throwaway PostgreSQL (tests/services/pg.sh), generates a database
# of realistic rows (customers and orders: text, numerics, timestamps, jsonb;
# BENCH_ROWS orders, default 3 million, which is over 500 MB of table
# data), then times, RUNS times each (default 2):
#   A  pg_dump -Fc                          (zlib, single-threaded)
#   B  pg_dump -Fc -Z0 | zstd -T0 -3        (the hand-made pipeline)
#   C  ballast-backup run                   (row_counts exact: the default)
#   D  ballast-backup run, row_counts off   (what exact counts cost)
# with /usr/bin/time -v (wall time, peak RSS of the measured process) and
# the output size. Results go to bench/results/backup_db-<UTC date>.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
build=${1:-$here/build}
rows=${BENCH_ROWS:-3000000}
runs=${RUNS:-2}
bin=$build/ballast-backup
[ -x "$bin" ] || { echo "no $bin: build first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (scripts/deps.sh installs it)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ballast-bench.XXXXXX")
chmod 755 "$work"
cleanup() { "$here/tests/services/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$here/tests/services/pg.sh" start "$work/pg" >/dev/null
sock=$work/pg; port=$(cat "$work/pg/port")
ci="host=$sock port=$port user=postgres dbname=bench"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

echo "generating $rows orders..." >&2
bench_gen_db psql_ bench "$rows"
tables=$(psql_ -d bench -At -c "SELECT pg_size_pretty(sum(pg_table_size(oid))) FROM pg_class WHERE relname IN ('orders','customers')")
dbsize=$(psql_ -d bench -At -c "SELECT pg_size_pretty(pg_database_size('bench'))")
tablebytes=$(psql_ -d bench -At -c "SELECT sum(pg_table_size(oid)) FROM pg_class WHERE relname IN ('orders','customers')")

mkcfg() { # $1 file, $2 row_counts
	cat > "$1" <<JSON
{ "project": "bench", "state_dir": "$work/state",
  "repository": { "type": "local", "path": "$work/repo" },
  "compression": { "level": 3, "threads": 0 },
  "databases": [ { "name": "bench", "conninfo": "$ci", "row_counts": "$2" } ] }
JSON
}
mkcfg "$work/exact.json" exact
mkcfg "$work/off.json" off

measure() { bench_time "$work" "$@"; }
latest_size() { find "$work/repo" -name 'db-bench.dump.zst' -newer "$work/mark" -printf '%s\n' | head -1; }

declare -A T S R
for run in $(seq 1 "$runs"); do
	echo "run $run/$runs..." >&2
	read -r t r < <(measure A pg_dump -Fc -f "$work/a.dump" -d "$ci")
	T[A$run]=$t; R[A$run]=$r; S[A$run]=$(stat -c %s "$work/a.dump"); rm -f "$work/a.dump"
	read -r t r < <(measure B sh -c "pg_dump -Fc -Z0 -d '$ci' | zstd -q -T0 -3 -o '$work/b.dump.zst'")
	T[B$run]=$t; R[B$run]=$r; S[B$run]=$(stat -c %s "$work/b.dump.zst"); rm -f "$work/b.dump.zst"
	"$bin" --config "$work/exact.json" init >/dev/null
	touch "$work/mark"; sleep 1
	read -r t r < <(measure C "$bin" --config "$work/exact.json" run)
	T[C$run]=$t; R[C$run]=$r; S[C$run]=$(latest_size)
	touch "$work/mark"; sleep 1
	read -r t r < <(measure D "$bin" --config "$work/off.json" run)
	T[D$run]=$t; R[D$run]=$r; S[D$run]=$(latest_size)
	rm -rf "$work/repo"
done

best() { # lowest time of $1 over the runs
	local k=$1 b="" v
	for run in $(seq 1 "$runs"); do v=${T[$k$run]}; if [ -z "$b" ] || awk "BEGIN{exit !($v < $b)}"; then b=$v; fi; done
	echo "$b"
}
A=$(best A); B=$(best B); C=$(best C); D=$(best D)
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
out=$here/bench/results/backup_db-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "# ballast-backup run vs pg_dump ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, shared with other jobs while it ran."
	echo "PostgreSQL $(psql_ -d bench -At -c 'SHOW server_version'); $(pg_dump --version); zstd $(zstd -V | grep -o 'v[0-9.]*')."
	echo "Data: $rows orders + 200000 customers (text, numeric, timestamptz, jsonb): tables $tables ($tablebytes bytes), database $dbsize."
	echo "Each variant ran $runs times, in turn; times are wall clock, RSS is the peak of the measured process tree's largest process (/usr/bin/time -v)."
	echo
	echo "| variant | run | seconds | output bytes | peak RSS KiB |"
	echo "| --- | --- | --- | --- | --- |"
	for k in A B C D; do
		case $k in
		A) n='pg_dump -Fc';; B) n='pg_dump -Fc -Z0 \| zstd -T0 -3';;
		C) n='ballast-backup run (row_counts exact)';; D) n='ballast-backup run (row_counts off)';;
		esac
		for run in $(seq 1 "$runs"); do echo "| $n | $run | ${T[$k$run]} | ${S[$k$run]} | ${R[$k$run]} |"; done
	done
	echo
	echo "Best of $runs, as ratios:"
	echo
	echo "- speed, pg_dump -Fc / ballast: $(ratio "$A" "$C")x (target >= 2x)"
	echo "- speed, zstd pipeline / ballast: $(ratio "$B" "$C")x (target >= 1.0x: no slower)"
	echo "- size, ballast / pg_dump -Fc: $(ratio "${S[C1]}" "${S[A1]}") (target <= 0.75)"
	echo "- size, ballast / zstd pipeline: $(ratio "${S[C1]}" "${S[B1]}")"
	echo "- exact row counts cost: ballast exact / ballast off: $(ratio "$C" "$D")x"
	echo "- ballast peak RSS: $(( ${R[C1]} / 1024 )) MiB (target < 100 MiB)"
} > "$out"
cat "$out"

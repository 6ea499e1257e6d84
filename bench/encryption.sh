#!/usr/bin/env bash
# Benchmark: what age encryption (#21, docs/encryption.md) adds to a backup
# and to a restore, on the same database in one run.
#
#   bench/encryption.sh [BUILD_DIR]
#
# Starts a throwaway PostgreSQL (tests/services/pg.sh), generates BENCH_ROWS
# orders (default 1,000,000: about 300 MB of table data, bench_gen_db),
# then, RUNS rounds (default 3), in turn within each round:
#   backup_plain   ballast-backup run, repository in clear
#   backup_age     ballast-backup run, every object age-encrypted
#   restore_plain  ballast-backup restore --latest into a fresh database
#   restore_age    the same from the encrypted repository
# (bench_age_round in bench/lib.sh, also pair "encryption" of bench/run.sh),
# with /usr/bin/time (wall time, peak RSS). Prints medians and the targets'
# ratios: encrypted / clear wall time <= 1.05 and peak RSS at most 2 MiB
# more, for backup and for restore. No assertion: the figures are read.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=${1:-$bench_top/build}/ballast-backup
rows=${BENCH_ROWS:-1000000} runs=${RUNS:-3}
[ -x "$bin" ] && [ -x /usr/bin/time ] || { echo "bench: needs $bin (build first) and /usr/bin/time" >&2; exit 2; }
bench_pg_start ballast-bench-enc
ci() { echo "host=$sock port=$port user=postgres dbname=$1"; }
bpsql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

echo "generating $rows orders..." >&2
bench_gen_db bpsql bench "$rows"
dbbytes=$(bpsql -d postgres -At -c "SELECT pg_database_size('bench')")
mkdir -p "$work/enc"
bench_age_setup "$work/enc" "$(ci bench)" "$bin"
raw=$work/raw.tsv
: > "$raw"
settle() { bench_settle bpsql; }
m() { settle; bench_measure "$raw" "$@"; }
n=0
fresh_db() { n=$((n + 1)); d=r_$n; bpsql -d postgres -c "CREATE DATABASE $d" >/dev/null; }
drop_db() { bpsql -d postgres -c "DROP DATABASE $d" >/dev/null; }
"$pgbin/pg_dump" -Fc -Z0 -d "$(ci bench)" >/dev/null   # warm the cache alike
for r in $(seq 1 "$runs"); do
	echo "round $r/$runs..." >&2
	bench_age_round "$r" "$work/enc" "$bin" m fresh_db drop_db ci
done

python3 - "$raw" "$rows" "$dbbytes" "$runs" "$(nproc)" "$("$bin" --version)" <<'PY'
import statistics, sys
raw, rows, dbbytes, runs, cores, version = sys.argv[1:7]
v = {}
for line in open(raw):
    _pair, name, _r, wall, rss, nbytes = line.split("\t")
    e = v.setdefault(name, {"wall": [], "rss": [], "bytes": []})
    e["wall"].append(float(wall)); e["rss"].append(int(rss)); e["bytes"].append(int(nbytes))
med = lambda name, k: statistics.median(v[name][k])
print(f"# ballast-backup with and without encryption ({version})\n")
print(f"Database: {rows} orders, {dbbytes} bytes; {runs} rounds on {cores} cores, "
      "the four variants in turn in each round; median [min-max].\n")
print("| variant | wall s | peak RSS MiB | stored bytes |\n| --- | --- | --- | --- |")
for name in ("backup_plain", "backup_age", "restore_plain", "restore_age"):
    w, r, b = v[name]["wall"], v[name]["rss"], v[name]["bytes"]
    print(f"| {name} | {statistics.median(w):.2f} [{min(w):.2f}-{max(w):.2f}] | "
          f"{statistics.median(r) / 1024:.1f} [{min(r) / 1024:.1f}-{max(r) / 1024:.1f}] | "
          f"{statistics.median(b) if b[0] >= 0 else ''} |")
print()
for op in ("backup", "restore"):
    t = med(f"{op}_age", "wall") / med(f"{op}_plain", "wall")
    m = (med(f"{op}_age", "rss") - med(f"{op}_plain", "rss")) / 1024
    print(f"- {op}: encrypted / clear wall time {t:.3f} (target <= 1.05), "
          f"peak RSS {m:+.2f} MiB (target <= +2 MiB)")
PY

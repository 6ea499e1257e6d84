#!/usr/bin/env bash
# Benchmark: peak memory of `ballast-backup run` into an S3 repository, for
# a database far larger than any buffer, beside the same run into a local
# directory and beside the hand-made pipeline an operator would use
# instead. The claim under test (issue #6): a 2 GiB stream uploads to
# s3rver with ballast-backup's peak RSS under 100 MiB.
#
#   bench/backup_s3_rss.sh [BUILD_DIR]
#
# Starts a throwaway PostgreSQL and s3rver (tests/services/), generates a
# database of BENCH_MB megabytes of table data (default 2048: random text
# and jsonb from generate_series, so it compresses about as badly as real
# payloads), then measures with /usr/bin/time -v, once each:
#   A  pg_dump -Fc -Z0 | zstd -T0 -3 > file   (peak RSS of the largest process)
#   B  ballast-backup run -> local directory
#   C  ballast-backup run -> s3rver (multipart upload)
# and checks C's object in s3rver with `ballast-backup verify`. Results go
# to bench/results/backup_s3_rss-<UTC time>.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
build=${1:-$here/build}
mb=${BENCH_MB:-2048}
bin=$build/ballast-backup
limit_kib=$((100 * 1024))
[ -x "$bin" ] || { echo "no $bin: build first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (scripts/deps.sh installs it)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ballast-bench-s3.XXXXXX")
chmod 755 "$work"
cleanup() {
	"$here/tests/services/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
	"$here/tests/services/s3.sh" stop "$work/s3" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
"$here/tests/services/pg.sh" start "$work/pg" >/dev/null
"$here/tests/services/s3.sh" start "$work/s3" >/dev/null
sock=$work/pg; port=$(cat "$work/pg/port")
ci="host=$sock port=$port user=postgres dbname=bench"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

# One row is about 1 kB on disk: 480 bytes of hex text (random bytes,
# 2x compressible), a jsonb of ~300 bytes, a few scalars.
rows=$((mb * 1100))
echo "generating about $mb MB of table data ($rows rows)..." >&2
psql_ -d postgres -c "CREATE DATABASE bench"
psql_ -d bench <<SQL
CREATE EXTENSION pgcrypto;
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, kind text, body text, attrs jsonb);
INSERT INTO events
SELECT g, timestamptz '2024-01-01' + g * interval '3 seconds',
       (ARRAY['click','view','buy','login','error'])[1 + g % 5],
       encode(gen_random_bytes(240), 'hex'),
       jsonb_build_object('session', md5(random()::text), 'user', md5(random()::text),
                          'path', '/p/' || md5(random()::text), 'score', random(),
                          'tags', jsonb_build_array(md5(random()::text), md5(random()::text)),
                          'ua', md5(random()::text) || md5(random()::text))
FROM generate_series(1, $rows) g;
VACUUM ANALYZE events;
SQL
tablebytes=$(psql_ -d bench -At -c "SELECT pg_table_size('events')")
tables=$(psql_ -d bench -At -c "SELECT pg_size_pretty(pg_table_size('events'))")

export BENCH_S3_ACCESS=$(cat "$work/s3/access_key") BENCH_S3_SECRET=$(cat "$work/s3/secret_key")
mkcfg() { # $1 file, $2 repository JSON
	cat > "$1" <<JSON
{ "project": "bench", "state_dir": "$work/state",
  "repository": $2,
  "compression": { "level": 3, "threads": 0 },
  "databases": [ { "name": "bench", "conninfo": "$ci" } ] }
JSON
}
# s3rver joins the parts before it answers CompleteMultipartUpload and sends
# nothing meanwhile (AWS sends keep-alive whitespace): for 2 GiB on a busy
# machine that silence outlasts the default 30 s stall timeout, the retry
# finds the upload gone and the run fails. Hence a long timeout here.
mkcfg "$work/local.json" "{ \"type\": \"local\", \"path\": \"$work/repo\" }"
mkcfg "$work/s3.json" "{ \"type\": \"s3\", \"endpoint\": \"$(cat "$work/s3/endpoint")\",
  \"bucket\": \"$(cat "$work/s3/bucket")\", \"prefix\": \"bench\", \"path_style\": true,
  \"access_key_env\": \"BENCH_S3_ACCESS\", \"secret_key_env\": \"BENCH_S3_SECRET\",
  \"timeout\": \"10m\" }"

measure() { bench_time "$work" "$@"; }
stored() { # bytes of the db object in a run's --json result
	sed -n 's/.*"items":\[{[^]]*"size":\([0-9]*\).*/\1/p' "$1" | tail -1
}

echo "A: pg_dump | zstd..." >&2
read -r tA rA < <(measure A sh -c "pg_dump -Fc -Z0 -d '$ci' | zstd -q -T0 -3 -o '$work/a.dump.zst'")
sA=$(stat -c %s "$work/a.dump.zst"); rm -f "$work/a.dump.zst"
echo "B: ballast-backup run -> local..." >&2
"$bin" --config "$work/local.json" init >/dev/null
"$bin" --config "$work/s3.json" init >/dev/null
read -r tB rB < <(measure B "$bin" --config "$work/local.json" --json run)
sB=$(stored "$work/out.B"); rm -rf "$work/repo"
echo "C: ballast-backup run -> s3rver..." >&2
read -r tC rC < <(measure C "$bin" --config "$work/s3.json" --json run)
sC=$(stored "$work/out.C")
id=$(sed -n 's/.*"backup_id":"\([^"]*\)".*/\1/p' "$work/out.C" | tail -1)
echo "verify $id in s3rver..." >&2
if "$bin" --config "$work/s3.json" verify "$id" >/dev/null 2>"$work/err.verify"; then verified=yes
else verified="NO: $(cat "$work/err.verify")"; fi

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
verdict=PASS
[ "$rC" -lt "$limit_kib" ] || verdict=FAIL
out=$here/bench/results/backup_s3_rss-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "# ballast-backup run into s3rver: peak RSS ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, shared with other jobs while it ran."
	echo "PostgreSQL $(psql_ -d bench -At -c 'SHOW server_version'); s3rver $(node -p "require('$here/tests/services/node_modules/s3rver/package.json').version") on 127.0.0.1; binary: $bin ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt") build)."
	echo "Data: one table of $rows rows (random hex text and jsonb): $tables ($tablebytes bytes) of table data."
	echo "compression level 3, threads 0 (every core); s3 part size: the driver's default. Each variant ran once; RSS is the peak of the measured command's largest process (/usr/bin/time -v): for ballast-backup that is ballast-backup itself (pg_dump is its child)."
	echo
	echo "| variant | seconds | stored bytes | peak RSS KiB |"
	echo "| --- | --- | --- | --- |"
	echo "| A pg_dump -Fc -Z0 \| zstd -T0 -3 > file | $tA | $sA | $rA |"
	echo "| B ballast-backup run -> local | $tB | $sB | $rB |"
	echo "| C ballast-backup run -> s3rver | $tC | $sC | $rC |"
	echo
	echo "- peak RSS, s3 / local: $(ratio "$rC" "$rB")x"
	echo "- peak RSS, s3 / pg_dump|zstd: $(ratio "$rC" "$rA")x"
	echo "- time, s3 / local: $(ratio "$tC" "$tB")x"
	echo "- ballast-backup into s3rver: peak RSS $(( rC / 1024 )) MiB for $(( sC / 1048576 )) MiB stored, $(( tablebytes / 1048576 )) MiB of table data (target < 100 MiB): $verdict"
	echo "- ballast-backup verify of the s3 backup: $verified"
} > "$out"
cat "$out"
[ "$verdict" = PASS ]

#!/usr/bin/env bash
# Volume snapshot benchmark: `ballast-backup run --only volume:bench` beside
# the command an operator would use instead, `tar -I 'zstd -T0 -3' -cf`, on
# the same tree of mixed small and large files, warm cache, same machine.
# Reports ratios (ballast / tar) for wall time, CPU time (user + system,
# which a busy shared machine distorts far less than wall time) and stored
# size, the median of ROUNDS alternating runs. ballast fsyncs the object
# before it commits it; tar does not, so "tar + sync" (sync of the output
# file after tar) is measured too, as the like-for-like durability
# comparison. Writes a summary to bench/results/.
#
#   bench/volume.sh [BUILD_DIR]      (default: ./build)
#   env: BENCH_DIR (scratch, default /tmp/ballast-bench-volume), ROUNDS (3),
#        SMALL (number of small files, 20000), LARGE_MB (size of each of the
#        4 large files, 128)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
build=$(cd "${1:-$top/build}" && pwd)
bin="$build/ballast-backup"
work=${BENCH_DIR:-/tmp/ballast-bench-volume}
rounds=${ROUNDS:-3}
small=${SMALL:-20000}
large_mb=${LARGE_MB:-128}
[ -x "$bin" ] || { echo "volume.sh: $bin not built" >&2; exit 2; }
command -v zstd >/dev/null || { echo "volume.sh: zstd not installed" >&2; exit 2; }

tree="$work/tree"
if [ ! -f "$work/.tree-$small-$large_mb" ]; then
	rm -rf "$work"
	# Deterministic content of three kinds: text-like (compresses well),
	# log-like with numbers (medium) and random (incompressible), so the
	# compressor does real work and neither side gets a free ride.
	bench_gen_tree "$tree" "$small" 4 "$large_mb" 200
	touch "$work/.tree-$small-$large_mb"
fi

mkdir -p "$work/repo"
cat > "$work/ballast.json" <<EOF
{ "project": "bench",
  "repository": { "type": "local", "path": "$work/repo" },
  "volumes": [ { "name": "bench", "path": "$tree" } ],
  "compression": { "level": 3, "threads": 0 } }
EOF

# run CMD...: sets t (wall seconds) and c (user + system CPU seconds)
measure() {
	local f
	f=$(mktemp)
	/usr/bin/time -f '%e %U %S' -o "$f" "$@"
	read -r t u s < "$f"
	c=$(echo "$u + $s" | bc)
	rm -f "$f"
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Warm the page cache for both sides alike.
tar -cf - -C "$tree" . >/dev/null

tar_t=() tar_c=() tar_s=() ts_t=() bl_t=() bl_c=() bl_s=()
for r in $(seq 1 "$rounds"); do
	rm -f "$work/out.tar.zst"
	sync
	measure tar -I 'zstd -T0 -3' -cf "$work/out.tar.zst" -C "$tree" .
	tar_t+=("$t") tar_c+=("$c")
	tar_s+=("$(stat -c %s "$work/out.tar.zst")")

	rm -f "$work/out.tar.zst"
	sync
	measure sh -c "tar -I 'zstd -T0 -3' -cf '$work/out.tar.zst' -C '$tree' . && sync '$work/out.tar.zst'"
	ts_t+=("$t")

	rm -rf "$work/repo/bench"
	"$bin" --config "$work/ballast.json" init >/dev/null
	sync
	measure "$bin" --config "$work/ballast.json" -q run --only volume:bench
	bl_t+=("$t") bl_c+=("$c")
	obj=$(find "$work/repo/bench/backups" -name 'volume-bench.tar.zst')
	bl_s+=("$(stat -c %s "$obj")")
done

median() { bench_median "$@"; }
tt=$(median "${tar_t[@]}") ts=$(median "${tar_s[@]}") tc=$(median "${tar_c[@]}")
tst=$(median "${ts_t[@]}")
bt=$(median "${bl_t[@]}") bs=$(median "${bl_s[@]}") bc_=$(median "${bl_c[@]}")
raw=$(du -sb --apparent-size "$tree" | cut -f1)
files=$(find "$tree" -type f | wc -l)
tratio=$(echo "scale=3; $bt / $tt" | bc)
tsratio=$(echo "scale=3; $bt / $tst" | bc)
cratio=$(echo "scale=3; $bc_ / $tc" | bc)
sratio=$(echo "scale=4; $bs / $ts" | bc)

mkdir -p "$top/bench/results"
out="$top/bench/results/volume-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
	echo "volume snapshot: ballast-backup run vs tar -I 'zstd -T0 -3' -cf"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(uname -r)"
	echo "tree: $files files, $raw bytes ($small small text files, 200 logs of 100 KiB-1 MiB, 4 x $large_mb MiB)"
	echo "rounds: $rounds, median; warm page cache; level 3, all cores on both sides"
	echo "load average before: $load0"
	echo "tar:        wall ${tt}s  cpu ${tc}s  $ts bytes   (wall runs: ${tar_t[*]})"
	echo "tar + sync: wall ${tst}s                          (wall runs: ${ts_t[*]})"
	echo "ballast:    wall ${bt}s  cpu ${bc_}s  $bs bytes   (wall runs: ${bl_t[*]})"
	echo "wall ratio ballast/tar:        $tratio   (<= 1 means ballast is no slower)"
	echo "wall ratio ballast/(tar+sync): $tsratio"
	echo "cpu ratio ballast/tar:         $cratio"
	echo "size ratio ballast/tar:        $sratio   (<= 1 means ballast is no larger)"
	echo "ballast stores more than tar here: nanosecond mtimes, xattrs and ACLs (pax)."
} | tee "$out"

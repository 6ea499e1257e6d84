#!/usr/bin/env bash
# Upload a stream to a throwaway s3rver through ballast's s3 driver and
# read it back, next to the same upload done by curl (one streamed PUT,
# SigV4), and report peak RSS and time as ratios. The claim under test:
# memory stays flat (peak RSS under 100 MiB for 2 GiB), whatever the size.
#
#   bench/s3_upload.sh [BYTES]     default 2 GiB
#
# Builds libballast optimised into bench/work/build (BUILD_DIR overrides)
# and needs s3rver (scripts/deps.sh). Work files go to bench/work/
# (git-ignored).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bytes=${1:-$((2 * 1024 * 1024 * 1024))}
limit_kib=$((100 * 1024))
work=$top/bench/work/s3_upload
build=${BUILD_DIR:-$top/bench/work/build}

mkdir -p "$work"
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBALLAST_TESTS=OFF \
		-DBALLAST_WERROR=OFF >/dev/null
fi
cmake --build "$build" --target ballast -j2 >"$work/build.log" 2>&1 ||
	{ tail -20 "$work/build.log" >&2; exit 1; }
incs=(); for d in "$top"/lib/*/; do incs+=(-I"$d"); done
cc -O2 -std=c11 -D_GNU_SOURCE "${incs[@]}" -o "$work/s3_upload" "$top/bench/s3_upload.c" \
	"$build/libballast.a" $(pkg-config --libs libpq libcurl libzstd libarchive jansson libssh2 libcrypto yaml-0.1) -lpthread -lm

svc=$work/svc
"$top/tests/services/s3.sh" start "$svc" >/dev/null
trap '"$top/tests/services/s3.sh" stop "$svc"' EXIT
endpoint=$(cat "$svc/endpoint"); bucket=$(cat "$svc/bucket")
export BENCH_S3_KEY=$(cat "$svc/access_key") BENCH_S3_SECRET=$(cat "$svc/secret_key")
spec=$(printf '{"type":"s3","endpoint":"%s","bucket":"%s","prefix":"bench","path_style":true,"access_key_env":"BENCH_S3_KEY","secret_key_env":"BENCH_S3_SECRET"}' "$endpoint" "$bucket")

rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
secs() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{ s=0; for (i=1;i<=NF;i++) s=s*60+$i; print s }'; }

echo "s3_upload: $bytes bytes to s3rver at $endpoint"
for hint in -1 "$bytes"; do
	/usr/bin/time -v -o "$work/time.ballast" "$work/s3_upload" "$spec" "bench/stream.bin" "$bytes" "$hint" \
		| sed "s/^/  ballast (size hint $hint): /"
	echo "  ballast (size hint $hint): peak RSS $(rss "$work/time.ballast") KiB, wall $(secs "$work/time.ballast") s"
	if [ "$(rss "$work/time.ballast")" -ge "$limit_kib" ]; then
		echo "s3_upload: FAIL: peak RSS $(rss "$work/time.ballast") KiB >= $limit_kib KiB" >&2
		exit 1
	fi
done

# The same bytes with curl: one PUT streamed from a file with an unsigned
# payload (what a shell script would do), then a GET to /dev/null. ballast
# does more per byte (SHA-256 of every part for the signature, the bench's
# own SHA-256 both ways, s3rver joining the parts), so the time ratio is an
# upper bound on the driver's overhead.
head -c "$bytes" /dev/urandom > "$work/src.bin"
/usr/bin/time -v -o "$work/time.curl" bash -c '
	curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" --user "$BENCH_S3_KEY:$BENCH_S3_SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T - "$1/$2/bench/curl.bin" < "$3" &&
	curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" --user "$BENCH_S3_KEY:$BENCH_S3_SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o /dev/null "$1/$2/bench/curl.bin"' _ \
	"$endpoint" "$bucket" "$work/src.bin"
rm -f "$work/src.bin"
b_rss=$(rss "$work/time.ballast"); c_rss=$(rss "$work/time.curl")
b_s=$(secs "$work/time.ballast"); c_s=$(secs "$work/time.curl")
echo "  curl PUT+GET: peak RSS $c_rss KiB, wall $c_s s"
awk -v br="$b_rss" -v cr="$c_rss" -v bs="$b_s" -v cs="$c_s" 'BEGIN {
	printf "  ratio ballast/curl: peak RSS %.2f, wall time %.2f\n", br / cr, bs / cs }'
echo "s3_upload: ok (peak RSS under $limit_kib KiB)"

#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: s3rver (npm, pinned in
# package.json, installed into node_modules by scripts/deps.sh).
#
#   s3.sh start DIR   run s3rver on 127.0.0.1 at a free port with its data
#                     in DIR/data, create the bucket, wait until it answers
#                     and write the facts: endpoint (path-style URL),
#                     endpoint_vhost (http://s3.localhost:PORT: virtual-host
#                     requests go to <bucket>.s3.localhost, which curl
#                     resolves to the loopback), bucket, access_key,
#                     secret_key, region, port, pid.
#   s3.sh stop DIR    stop it and remove DIR.
#
# s3rver knows one account (S3RVER/S3RVER): an unknown access key gets 403
# InvalidAccessKeyId. It does not verify SigV4 signatures, so the request
# signing is unit-tested separately (tests/unit/test_s3_sign.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: s3.sh start|stop DIR"

bucket=ballast-test

case "$cmd" in
start)
	command -v node >/dev/null || svc_die "node not found (install nodejs)"
	s3rver=$here/node_modules/s3rver/bin/s3rver.js
	if [ ! -f "$s3rver" ]; then
		(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null 2>&1) ||
			svc_die "s3rver missing and npm install failed in $here (run scripts/deps.sh)"
	fi
	[ -f "$s3rver" ] || svc_die "s3rver not installed in $here/node_modules (run scripts/deps.sh)"
	rm -rf "$dir"
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	started=0
	for attempt in 1 2 3 4 5; do
		port=$(svc_free_port)
		node "$s3rver" -d "$dir/data" -a 127.0.0.1 -p "$port" --silent \
			--service-endpoint localhost --configure-bucket "$bucket" \
			</dev/null >"$dir/s3rver.log" 2>&1 &
		echo $! > "$dir/pid"
		if svc_wait_tcp "$port" 20; then started=1; break; fi
		svc_kill_pidfile "$dir/pid"
	done
	[ "$started" = 1 ] || { tail -5 "$dir/s3rver.log" >&2 || true; svc_die "s3rver did not start in $dir"; }
	# The bucket exists once the server answers for it.
	ok=0
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/$bucket" 2>/dev/null; then ok=1; break; fi
		sleep 0.1
	done
	[ "$ok" = 1 ] || svc_die "s3rver in $dir does not serve bucket $bucket"
	echo "$port" > "$dir/port"
	echo "http://127.0.0.1:$port" > "$dir/endpoint"
	echo "http://s3.localhost:$port" > "$dir/endpoint_vhost"
	echo "$bucket" > "$dir/bucket"
	echo "S3RVER" > "$dir/access_key"
	echo "S3RVER" > "$dir/secret_key"
	echo "us-east-1" > "$dir/region"
	echo "http://127.0.0.1:$port/$bucket"
	;;
stop)
	[ -d "$dir" ] || exit 0
	svc_kill_pidfile "$dir/pid"
	rm -rf "$dir"
	;;
*)
	svc_die "usage: s3.sh start|stop DIR"
	;;
esac

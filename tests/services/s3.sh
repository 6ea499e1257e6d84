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
#                     secret_key, region, port, pid; and the same data
#                     over TLS: endpoint_tls (https://127.0.0.1:PORT2, a
#                     certificate from a throwaway CA), ca_file (that CA),
#                     pid_tls.
#   s3.sh restart DIR start it again on the same port and data (after a
#                     test killed it).
#   s3.sh stop DIR    stop it and remove DIR.
#
# s3rver knows one account (S3RVER/S3RVER): an unknown access key gets 403
# InvalidAccessKeyId. It does not verify SigV4 signatures, so the request
# signing is unit-tested separately (tests/unit/test_s3_sign.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: s3.sh start|restart|stop DIR"

bucket=ballast-test
# s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 keeps
# in its legacy provider.
node_opts=--openssl-legacy-provider

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
		node $node_opts "$s3rver" -d "$dir/data" -a 127.0.0.1 -p "$port" --silent \
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
	# The same data over TLS, with a certificate from a throwaway CA, for
	# the tests of certificate verification and ca_file.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ballast test CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || svc_die "openssl failed"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/tls.key" \
		-out "$dir/tls.csr" >/dev/null 2>&1 || svc_die "openssl failed"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost\n' > "$dir/tls.ext"
	openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/tls.ext" -out "$dir/tls.pem" >/dev/null 2>&1 ||
		svc_die "openssl failed"
	started=0
	for attempt in 1 2 3 4 5; do
		tls_port=$(svc_free_port)
		node $node_opts "$s3rver" -d "$dir/data" -a 127.0.0.1 -p "$tls_port" --silent \
			--service-endpoint localhost --key "$dir/tls.key" --cert "$dir/tls.pem" \
			</dev/null >"$dir/s3rver-tls.log" 2>&1 &
		echo $! > "$dir/pid_tls"
		if svc_wait_tcp "$tls_port" 20; then started=1; break; fi
		svc_kill_pidfile "$dir/pid_tls"
	done
	[ "$started" = 1 ] || svc_die "s3rver (TLS) did not start in $dir"
	echo "https://127.0.0.1:$tls_port" > "$dir/endpoint_tls"
	echo "$dir/ca.pem" > "$dir/ca_file"
	echo "$port" > "$dir/port"
	echo "http://127.0.0.1:$port" > "$dir/endpoint"
	echo "http://s3.localhost:$port" > "$dir/endpoint_vhost"
	echo "$bucket" > "$dir/bucket"
	echo "S3RVER" > "$dir/access_key"
	echo "S3RVER" > "$dir/secret_key"
	echo "us-east-1" > "$dir/region"
	echo "http://127.0.0.1:$port/$bucket"
	;;
restart)
	# For tests that kill the server mid-upload: the same port and data.
	[ -f "$dir/port" ] || svc_die "no s3rver state in $dir"
	dir=$(cd "$dir" && pwd)
	port=$(cat "$dir/port")
	svc_kill_pidfile "$dir/pid"
	node $node_opts "$here/node_modules/s3rver/bin/s3rver.js" -d "$dir/data" -a 127.0.0.1 -p "$port" \
		--silent --service-endpoint localhost </dev/null >>"$dir/s3rver.log" 2>&1 &
	echo $! > "$dir/pid"
	svc_wait_tcp "$port" 20 || svc_die "s3rver did not restart on port $port"
	;;
stop)
	[ -d "$dir" ] || exit 0
	svc_kill_pidfile "$dir/pid"
	svc_kill_pidfile "$dir/pid_tls"
	rm -rf "$dir"
	;;
*)
	svc_die "usage: s3.sh start|restart|stop DIR"
	;;
esac

#!/usr/bin/env bash
# An HTTP server that records requests (for webhook and ping tests).
#   hooksink.sh start DIR   facts: port, url, requests.jsonl (appended), mode (write to change)
#   hooksink.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: hooksink.sh start|stop DIR"
case "$cmd" in
start)
	rm -rf "$dir"; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	port=$(svc_free_port)
	: > "$dir/requests.jsonl"
	echo ok > "$dir/mode"
	nohup python3 "$here/hooksink.py" "$dir" "$port" >"$dir/server.log" 2>&1 &
	echo $! > "$dir/pid"
	svc_wait_tcp "$port" 20 || { cat "$dir/server.log" >&2; svc_die "hooksink did not start"; }
	echo "$port" > "$dir/port"
	echo "http://127.0.0.1:$port" > "$dir/url"
	cat "$dir/url"
	;;
stop)
	[ -d "$dir" ] || exit 0
	svc_kill_pidfile "$dir/pid"
	rm -rf "$dir"
	;;
*) svc_die "usage: hooksink.sh start|stop DIR" ;;
esac

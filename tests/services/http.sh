#!/usr/bin/env bash
# A throwaway HTTP health server for the deploy suites (http_server.py).
#
#   http.sh start DIR   start it on a free port of 127.0.0.1, write DIR/port,
#                       DIR/url (http://127.0.0.1:PORT/health) and
#                       DIR/state (the directory the stand-in compose writes
#                       the release that is "up" into: DIR itself)
#   http.sh stop DIR    stop it and remove DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: http.sh start|stop DIR"
# The system interpreter, not a pyenv shim: a shim costs seconds per start
# on a loaded machine.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || svc_die "python3 is needed for the http test service"

case "$cmd" in
start)
	rm -rf "$dir"
	mkdir -p "$dir/fail"
	dir=$(cd "$dir" && pwd)
	for attempt in 1 2 3; do
		port=$(svc_free_port)
		"$py" "$here/http_server.py" "$dir" "$port" >"$dir/server.log" 2>&1 &
		echo $! > "$dir/pid"
		if svc_wait_tcp "$port" 30; then
			echo "$port" > "$dir/port"
			echo "http://127.0.0.1:$port/health" > "$dir/url"
			echo "$dir" > "$dir/state"
			cat "$dir/url"
			exit 0
		fi
		svc_kill_pidfile "$dir/pid"
	done
	cat "$dir/server.log" >&2
	svc_die "http server did not start in $dir"
	;;
stop)
	[ -d "$dir" ] || exit 0
	svc_kill_pidfile "$dir/pid"
	rm -rf "$dir"
	;;
*)
	svc_die "usage: http.sh start|stop DIR"
	;;
esac

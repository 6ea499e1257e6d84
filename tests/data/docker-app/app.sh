#!/bin/sh
mode=$(cat /mode)
if [ "${1:-}" = check ]; then
	[ "$mode" = unhealthy ] && exit 1
	exec wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/health
fi
[ "$mode" = crash ] && { echo "crash on purpose" >&2; exit 3; }
if [ "$mode" = noterm ]; then
	# sh as PID 1 with no handler: the kernel drops SIGTERM, stop waits
	# for its grace period and then kills.
	httpd -f -p 8080 -h /www &
	wait
	exit 0
fi
trap 'kill "$pid"; exit 0' TERM INT
httpd -f -p 8080 -h /www &
pid=$!
wait

#!/bin/sh
# The release is the tag of APP_IMAGE. Releases named for a fault:
#   badhc*   the container healthcheck fails while /health answers 200
#   bad500*  /health answers 500
#   crash*   exits 3 at start
#   noterm*  PID 1 ignores SIGTERM (stop waits for its grace period)
#   slow*    /health answers only after 60 s (a health check that times out)
if [ "${1:-}" = check ]; then
	# read, not $(cat): one process less per check, every second
	read -r m < /mode
	[ "$m" = unhealthy ] && exit 1
	exec wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/health
fi
rel=${APP_IMAGE##*:}
case $rel in
badhc*) mode=unhealthy ;;
bad500*) mode=health500 ;;
crash*) mode=crash ;;
noterm*) mode=noterm ;;
slow*) mode=slow ;;
*) mode=ok ;;
esac
echo "$rel" > /release
echo "$mode" > /mode
[ "$mode" = crash ] && { echo "crash on purpose" >&2; exit 3; }
if [ "$mode" = noterm ]; then
	# sh as PID 1 with no handler: the kernel drops SIGTERM.
	httpd -f -p 8080 -h /www &
	wait
	exit 0
fi
trap 'kill "$pid"; exit 0' TERM INT
httpd -f -p 8080 -h /www &
pid=$!
wait

#!/bin/sh
[ "$(cat /mode)" = slow ] && sleep 60
if [ "$(cat /mode)" = health500 ]; then
	printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nbroken on purpose\n'
	exit 0
fi
printf 'Content-Type: application/json\r\n\r\n{"status": "ok", "release": "%s"}\n' "$(cat /release)"

#!/bin/sh
# The release is the tag of APP_IMAGE; /tmp is the container's tmpfs (the
# root filesystem is read-only).
echo "${APP_IMAGE##*:}" > /tmp/release
httpd -f -p 8080 -h /www &
pid=$!
# PID 1 has no default SIGTERM action: without this trap every stop would
# wait for compose's grace period.
trap 'kill "$pid"; exit 0' TERM INT
wait

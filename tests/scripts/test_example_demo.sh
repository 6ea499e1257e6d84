#!/usr/bin/env bash
# examples/demo/compose, the demo runtime that stands in for `docker compose`
# in the lead's demo: the argv subset ballast-deploy uses, a local process
# whose /health reports the release from BACKEND_IMAGE's tag, 500 for a
# "broken" tag, and an honest banner saying it is not Docker.
. "$(dirname "$0")/lib.sh"
. "$S/tests/services/lib.sh"
dc=$S/examples/demo/compose
tmp=$(mktemp -d)
export DEMO_STATE_DIR=$tmp/state
trap '"$dc" -f "$tmp/app/docker-compose.prod.yml" down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
unset BACKEND_IMAGE FRONTEND_IMAGE ETL_IMAGE DEMO_HEALTH_PORT

port=$(svc_free_port)
mkdir -p "$tmp/app"
cp "$S/examples/audit_app/docker-compose.prod.yml" "$tmp/app/"
{ cat "$S/examples/audit_app/.env.prod.example"; echo "DEMO_HEALTH_PORT=$port"; } > "$tmp/app/.env.prod"
cd "$tmp/app"
args=(-f docker-compose.prod.yml --env-file .env.prod -p audit_app)

health() { # prints "STATUS BODY"
	python3 - "$port" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s/health" % sys.argv[1], timeout=3)
    print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
except OSError as e:
    print("down", e)
PY
}

t_run 0 "$dc" "${args[@]}" pull
t_contains "$t_err" "NOT Docker" "pull says it is a demo runtime"
t_contains "$t_out" "acme/audit-app-backend:latest" "pull names the images"

# up -d with the env file's release, then with ballast-deploy's override.
t_run 0 "$dc" "${args[@]}" up -d
t_contains "$t_err" "NOT Docker" "up says it is a demo runtime"
t_contains "$t_out" "release latest on http://127.0.0.1:$port" "up"
t_contains "$(health)" '200 {"release": "latest", "status": "ok"}' "health after up"
BACKEND_IMAGE=acme/audit-app-backend:v1.2.0 t_run 0 "$dc" "${args[@]}" up -d
t_contains "$(health)" '200 {"release": "v1.2.0"' "health after up with an override"
t_run 0 "$dc" "${args[@]}" ps --format json
printf '%s\n' "$t_out" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
assert {r["Service"] for r in rows} == {"backend", "frontend", "etl"}, rows
assert all(r["State"] == "running" and r["Health"] == "healthy" for r in rows), rows
' && t_ok || t_fail "ps --format json healthy: $t_out"
pid1=$(cat "$DEMO_STATE_DIR/app.pid")

# A broken release starts but fails its health check.
BACKEND_IMAGE=acme/audit-app-backend:v1.3.0-broken t_run 0 "$dc" "${args[@]}" up -d
t_contains "$(health)" '500 {"release": "v1.3.0-broken", "status": "broken"}' "broken release"
t_run 0 "$dc" "${args[@]}" ps --format json
t_contains "$t_out" '"Health": "unhealthy"' "ps reports the broken release unhealthy"
# Alive and not a zombie: an orphan may wait a while for its reaper.
alive() { [ -r "/proc/$1/stat" ] && ! awk '{ exit !($3 == "Z" || $3 == "X") }' "/proc/$1/stat" 2>/dev/null; }
for _ in $(seq 1 50); do alive "$pid1" || break; sleep 0.1; done
alive "$pid1" && t_fail "the previous app.py ($pid1) still runs" || t_ok

# Back to the good release (what a rollback does).
BACKEND_IMAGE=acme/audit-app-backend:v1.2.0 t_run 0 "$dc" "${args[@]}" up -d
t_contains "$(health)" '200 {"release": "v1.2.0"' "rollback release healthy"

# stop / start (a volume backup's before/after).
t_run 0 "$dc" "${args[@]}" stop
t_contains "$(health)" "down" "stopped"
t_run 0 "$dc" "${args[@]}" ps
t_contains "$t_out" "nothing running (last release v1.2.0)" "ps when stopped"
t_run 0 "$dc" "${args[@]}" start
t_contains "$(health)" '200 {"release": "v1.2.0"' "started again"

# Failures a demo can show, and refusals.
BACKEND_IMAGE=acme/audit-app-backend:v9-unpullable t_run 1 "$dc" "${args[@]}" pull
t_contains "$t_err" "manifest for acme/audit-app-backend:v9-unpullable not found" "unpullable"
t_run 1 "$dc" -f missing.yml --env-file .env.prod up -d
t_contains "$t_err" "missing.yml: no such file" "missing compose file"
t_run 2 "$dc" "${args[@]}" exec backend sh
t_contains "$t_err" "not supported by the demo runtime" "unsupported command"
grep -v DEMO_HEALTH_PORT .env.prod > .env.noport
t_run 1 "$dc" -f docker-compose.prod.yml --env-file .env.noport up -d
t_contains "$t_err" "DEMO_HEALTH_PORT is not set" "no port"

t_run 0 "$dc" "${args[@]}" down
t_contains "$(health)" "down" "down"
[ ! -e "$DEMO_STATE_DIR/app.pid" ] && t_ok || t_fail "down left the pid file"
t_done

#!/usr/bin/env bash
# bench/deploy_baseline.sh: what a team writes instead of ballast-deploy: a
# shell deploy that calls `ssh` once per step (a fresh connection each time,
# as scripts in CI do), doing the same steps as a no-op `ballast-deploy
# deploy` without snapshot or migrations: lock, preflight (files, disk,
# compose present, current health), pull, up, verify (health + compose ps),
# record, unlock. No rollback logic at all: it is the floor such a script
# costs, not its equal.
#
#   deploy_baseline.sh SSH_TARGET PORT KEY KNOWN_HOSTS APP_DIR COMPOSE_PREFIX TAG HEALTH_URL
set -euo pipefail
target=$1 port=$2 key=$3 kh=$4 app=$5 compose=$6 tag=$7 url=$8
s() { ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh" -i "$key" -p "$port" "$target" "$@"; }
img="BACKEND_IMAGE=example/backend:$tag WORKER_IMAGE=example/worker:$tag"
dc="$compose -f docker-compose.yml --env-file .env.qa"

s "mkdir -p $app/.ballast && (set -C; echo \"\$(hostname) \$\$\" > $app/.ballast/lock)"         # lock
s "test -d $app && test -f $app/docker-compose.yml && test -f $app/.env.qa && df -Pk $app >/dev/null"  # files, disk
s "cd $app && $dc version >/dev/null"                                                           # compose present
curl -fsS -m 5 -o /dev/null "$url"                                                              # current health
s "cd $app && $img $dc pull >/dev/null"                                                         # pull
s "cd $app && $img $dc up -d --remove-orphans >/dev/null"                                       # up
for _ in $(seq 1 30); do curl -fsS -m 5 -o /dev/null "$url" && break; sleep 1; done             # verify
s "cd $app && $dc ps --format json | grep -q healthy"                                           # compose health
s "cd $app && printf '{\"release\":\"%s\"}\n' $tag > .ballast/state.json.tmp && mv .ballast/state.json.tmp .ballast/state.json && echo '{\"to\":\"$tag\"}' >> .ballast/history.jsonl"  # record
s "rm -f $app/.ballast/lock"                                                                    # unlock

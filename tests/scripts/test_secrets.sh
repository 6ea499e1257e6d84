#!/usr/bin/env bash
# services: pg s3 http
# Secrets never leak: the database password and the S3 secret key are looked
# for in every log line and --json event (success and failure paths), the
# process list (/proc/*/cmdline, sampled while backups, restores,
# migrations and deploys run), manifests and every other object in the local
# and S3 repositories, the state directory (locks), the migration history
# table, the deploy history and state (whose env file holds both secrets),
# the argv the compose stand-in recorded, and the metrics file. And what ballast creates is private: under umask 000,
# every file in the state directory and the local repository is 0600 and
# every directory 0700.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC
PW=$(cat "$svc/pg/password")
# s3rver checks the access key but not signatures, so the secret can be one
# that occurs nowhere else (its default equals the access key).
SK="sk-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
AK=$(cat "$svc/s3/access_key")
tcp=$(cat "$svc/pg/conninfo_tcp")
ci=$(cat "$svc/pg/conninfo")
bb=$B/ballast-backup
bm=$B/ballast-migrate
tmp=$(mktemp -d); trap 'kill $scanner 2>/dev/null; rm -rf "$tmp"' EXIT
export BK_PW=$PW BK_AK=$AK BK_SK=$SK
unset PGPASSWORD

psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS secretdb" -c "CREATE DATABASE secretdb" \
	-c "DROP DATABASE IF EXISTS secret_target" -c "CREATE DATABASE secret_target" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d "${ci/dbname=postgres/dbname=secretdb}" \
	-c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g" >/dev/null

# A dump command that takes its time, so the process list is sampled while
# pg_dump runs.
cat >"$tmp/slowdump" <<'SH'
#!/bin/sh
case "$1" in --version) exec pg_dump --version;; esac
sleep 1
pg_dump "$@" || exit $?
sleep 1
SH
chmod 755 "$tmp/slowdump"
mkdir -p "$tmp/migrations"
echo "CREATE TABLE secret_m (id int);" >"$tmp/migrations/1_m.up.sql"
echo "DROP TABLE secret_m;" >"$tmp/migrations/1_m.down.sql"
db="{ \"name\": \"app\", \"conninfo\": \"$tcp dbname=secretdb\", \"password_env\": \"BK_PW\", \"dump_command\": [\"$tmp/slowdump\"] }"
cat >"$tmp/local.json" <<JSON
{ "project": "sec", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ $db ],
  "metrics": { "textfile": "$tmp/metrics/ballast.prom" },
  "migrations": { "dir": "$tmp/migrations", "database": "app" } }
JSON
prefix="secrets-$$/"
cat >"$tmp/s3.json" <<JSON
{ "project": "sec", "state_dir": "$tmp/state",
  "repository": { "type": "s3", "endpoint": "$(cat "$svc/s3/endpoint")", "region": "us-east-1",
                  "bucket": "$(cat "$svc/s3/bucket")", "prefix": "$prefix", "path_style": true,
                  "access_key_env": "BK_AK", "secret_key_env": "BK_SK" },
  "databases": [ $db ] }
JSON
sed "s/\"bucket\": \"[^\"]*\"/\"bucket\": \"no-such-bucket\"/" "$tmp/s3.json" >"$tmp/s3-bad.json"
cat >"$tmp/badpw.json" <<JSON
{ "project": "sec", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app",
                   "conninfo": "postgresql://postgres:$PW@127.0.0.1:1/secretdb?connect_timeout=3" } ] }
JSON
"$bb" --config "$tmp/local.json" init >/dev/null
"$bb" --config "$tmp/s3.json" init >/dev/null

# Sample every process's argv until told to stop; hits are recorded. The
# secrets reach the sampler through its environment, not its argv.
SCAN_STOP=$tmp/stop-scan SCAN_OUT=$tmp/proc-hits SCAN_ROUNDS=$tmp/scan-rounds python3 - <<'PY' &
import os, time
secrets = [os.environ["BK_PW"].encode(), os.environ["BK_SK"].encode()]
rounds = 0
while not os.path.exists(os.environ["SCAN_STOP"]):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                a = f.read()
        except OSError:
            continue
        if any(s in a for s in secrets):
            with open(os.environ["SCAN_OUT"], "a") as o:
                o.write("%s: %r\n" % (pid, a.replace(b"\0", b" ")))
    rounds += 1
    with open(os.environ["SCAN_ROUNDS"], "w") as f:
        f.write("%d\n" % rounds)
    time.sleep(0.02)
PY
scanner=$!

logs=$tmp/logs
mkdir -p "$logs"
step() { # NAME EXPECTED_RC CMD...: run with umask 000, output kept for the grep
	local name=$1 want=$2 rc; shift 2
	(umask 000; exec "$@") >"$logs/$name.out" 2>"$logs/$name.err"; rc=$?
	[ "$rc" = "$want" ] && t_ok || t_fail "$name exited $rc, expected $want: $(tail -3 "$logs/$name.err")"
}
# a canary proves the sampler sees what it looks for
for i in $(seq 300); do [ -s "$tmp/scan-rounds" ] && break; sleep 0.1; done
sh -c 'sleep 1' "canary-$SK"
step run-local 0 "$bb" --config "$tmp/local.json" -v --json run
step run-local-text 0 "$bb" --config "$tmp/local.json" -v run
step run-s3 0 "$bb" --config "$tmp/s3.json" -v --json run
id=$("$bb" --config "$tmp/local.json" list --json | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][0]["id"])')
step list 0 "$bb" --config "$tmp/local.json" -v --json list
step show 0 "$bb" --config "$tmp/local.json" -v --json show "$id"
step verify-local 0 "$bb" --config "$tmp/local.json" -v --json verify --all
step verify-s3 0 "$bb" --config "$tmp/s3.json" -v --json verify --all
PGPASSWORD=$PW step restore 0 "$bb" --config "$tmp/local.json" -v --json restore "$id" --target "$tcp dbname=secret_target"
step migrate-up 0 "$bm" --config "$tmp/local.json" -v --json up
step migrate-status 0 "$bm" --config "$tmp/local.json" -v --json status
step init-s3-fails 1 "$bb" --config "$tmp/s3-bad.json" -v --json init
step run-s3-refused 2 "$bb" --config "$tmp/s3-bad.json" -v --json run
step run-badpw-fails 1 "$bb" --config "$tmp/badpw.json" -v --json run
BK_PW=wrong-$PW step run-wrongpw-fails 1 "$bb" --config "$tmp/local.json" -v --json run

# A deploy whose env file holds the database password (as .env.prod files
# do): its output, history and state must not repeat it.
http=$svc/http
app=$tmp/app; standin=$tmp/standin
mkdir -p "$app" "$standin"
ln -s "$(cat "$http/state")" "$standin/health"
rm -f "$(cat "$http/state")/release"
printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n' >"$app/docker-compose.yml"
printf 'NS=example\nPOSTGRES_PASSWORD=%s\nS3_SECRET=%s\n' "$PW" "$SK" >"$app/.env.qa"
cat >"$tmp/deploy.json" <<JSON
{ "project": "sec", "images": { "BACKEND_IMAGE": "\${NS}/backend" },
  "environments": { "qa": {
      "transport": { "type": "local" }, "app_dir": "$app",
      "compose_file": "docker-compose.yml", "env_file": ".env.qa",
      "compose_command": ["$S/tests/standin/compose", "--standin", "$standin"],
      "backup_command": ["$B/ballast-backup"], "migrate_command": ["$B/ballast-migrate"],
      "min_free": "1M", "snapshot": false, "lock_ttl": "10m",
      "health": [ { "url": "$(cat "$http/url")", "status": 200, "timeout": "1s", "interval": "100ms",
                    "deadline": "5s", "stable_for": "200ms" } ] } } }
JSON
step deploy-v1 0 "$B/ballast-deploy" --config "$tmp/deploy.json" -v --json deploy qa --release v1
step deploy-v2 0 "$B/ballast-deploy" --config "$tmp/deploy.json" -v deploy qa --release v2
step deploy-history 0 "$B/ballast-deploy" --config "$tmp/deploy.json" --json history qa
step deploy-status 0 "$B/ballast-deploy" --config "$tmp/deploy.json" -v --json status qa
step deploy-rollback 0 "$B/ballast-deploy" --config "$tmp/deploy.json" -v --json rollback qa
[ "$(grep -c . "$app/.ballast/history.jsonl")" -ge 3 ] && t_ok || t_fail "deploy history has fewer than 3 lines"
touch "$tmp/stop-scan"; wait $scanner
rounds=$(cat "$tmp/scan-rounds")
[ "$rounds" -ge 20 ] && t_ok || t_fail "the process list was sampled only $rounds times"
grep -q "canary-" "$tmp/proc-hits" 2>/dev/null && t_ok || t_fail "the sampler missed the canary process"
hits=$(grep -v "canary-" "$tmp/proc-hits" 2>/dev/null)
[ -z "$hits" ] && t_ok || t_fail "a secret in the process list: $(printf '%s\n' "$hits" | sort -u | head -3)"

# The failure paths said something useful (so the grep below saw real errors).
t_contains "$(cat "$logs/init-s3-fails.err")" "no-such-bucket" "s3 failure names the bucket"
t_contains "$(cat "$logs/run-s3-refused.err")" "no-such-bucket" "s3 refusal names the bucket"
t_contains "$(cat "$logs/run-badpw-fails.err")" "127.0.0.1:1" "connection failure names the server"
t_contains "$(cat "$logs/run-wrongpw-fails.err")" "password authentication failed" "wrong password"
t_contains "$(cat "$logs/run-local.out")" '"event":"result"' "--json events were written"

# Nothing ballast wrote holds a secret (the wrong password is the real one
# with a prefix, so one grep covers it).
psql -X -At -d "${ci/dbname=postgres/dbname=secretdb}" -c "SELECT * FROM ballast_migrations" >"$tmp/history.txt"
grep -q "secret_m\|^1|" "$tmp/history.txt" && t_ok || t_fail "migration history not read: $(cat "$tmp/history.txt")"
places=("$logs" "$tmp/state" "$tmp/repo" "$tmp/metrics" "$tmp/history.txt" "$svc/s3/data" "$app/.ballast"
	"$standin/calls.jsonl")
# The one exception: each release bundle keeps the env file as deployed
# (docs/ballast-deploy.md "Release bundles"), so it must be that file byte
# for byte (and 0600, below), not a secret ballast wrote anywhere else.
for secret in "$PW" "$SK"; do
	hits=$(grep -rlF -- "$secret" "${places[@]}" 2>/dev/null | grep -v '/\.ballast/releases/[^/]*/env$')
	[ -z "$hits" ] && t_ok || t_fail "a secret was written to: $hits"
done
copies=$(find "$app/.ballast/releases" -name env -type f 2>/dev/null)
[ -n "$copies" ] && t_ok || t_fail "no release bundle kept the env file"
for f in $copies; do
	cmp -s "$f" "$app/.env.qa" && t_ok || t_fail "$f is not the deployed env file"
done
# the S3 repository really holds the backup (so its grep was not vacuous)
n=$(grep -rl '"checksum"' "$svc/s3/data" 2>/dev/null | wc -l)
[ "$n" -ge 1 ] && t_ok || t_fail "no manifest found in the S3 server's data"

# Modes under umask 000: private files and directories.
bad=$(find "$tmp/state" "$tmp/repo" "$app/.ballast" \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0700 \) 2>/dev/null |
	while read -r f; do printf '%s %s\n' "$(stat -c %a "$f")" "$f"; done)
[ -z "$bad" ] && t_ok || t_fail "not 0600/0700 under umask 000: $bad"
[ "$(find "$tmp/repo" -type f | wc -l)" -ge 3 ] && t_ok || t_fail "the local repository is empty"

t_done

#!/usr/bin/env bash
# services: http
# ballast-deploy over the local transport, with the stand-in compose and a
# real HTTP health server: deploys, every fault before and after the point
# where the environment changes, locks, crashes, plan, status, history and
# hooks. (Schema and data rollbacks: test_deploy_migrate.sh.)
. "$(dirname "$0")/deploy_lib.sh"

# ---- a first deploy and a second one ----
new_env basic
run_deploy deploy qa --release v1
t_check "first deploy exits 0" eq "$RC" 0
t_check "first deploy says deployed on its last line" contains "$(printf '%s' "$OUT" | tail -n1)" "deployed: qa is on v1"
t_check "state.json records v1" eq "$(state_release)" v1
t_check "state.json records the image references" eq "$(json "$APP/.ballast/state.json" .images.BACKEND_IMAGE)" example/backend:v1
t_check "health serves v1" eq "$(health_release)" v1
t_check "pull got the release's image variables" contains "$(grep '"pull"' "$STANDIN/calls.jsonl")" '"BACKEND_IMAGE":"example/backend:v1"'
t_check "compose ran in the app dir with -f and --env-file" contains "$(grep '"up"' "$STANDIN/calls.jsonl")" "\"cwd\":\"$APP\""
t_check "compose got the bundle's copy of the env file" contains "$(grep '"up"' "$STANDIN/calls.jsonl")" "\"--env-file\",\"$APP/.ballast/releases/v1/env\""
t_check "compose ran with app_dir as its project directory" contains "$(grep '"up"' "$STANDIN/calls.jsonl")" "\"--project-directory\",\"$APP\""
t_check "history has one deployed entry" eq "$(last_history '"\(.result) \(.to)"')" "deployed v1"
t_check "history records step timings" eq "$(last_history '[.steps[].step] | join(" ")')" "lock preflight bundle pull pin up verify record"
t_check "lock released after the deploy" test ! -e "$APP/.ballast/lock"
run_deploy deploy qa --release v2
t_check "second deploy exits 0" eq "$RC" 0
t_check "state.json: v2 with previous v1" eq "$(json "$APP/.ballast/state.json" '"\(.release) \(.previous_release)"')" "v2 v1"
t_check "health serves v2" eq "$(health_release)" v2
run_deploy deploy qa --release v2
t_check "redeploying v2 (a no-op) keeps v1 as the previous release" eq "$RC $(json "$APP/.ballast/state.json" '"\(.release) \(.previous_release)"')" "0 v2 v1"

# ---- faults before anything changed ----
touch "$STANDIN/fail-pull-v3"
run_deploy deploy qa --release v3
t_check "pull failure exits 1" eq "$RC" 1
t_check "pull failure says nothing changed" contains "$ERR" "nothing was changed"
t_check "pull failure: the last line starts with aborted" contains "$(printf '%s' "$ERR" | tail -n1)" "error: aborted, nothing was changed"
t_check "pull failure names the pull" contains "$ERR" "manifest for v3 not found"
t_check "after pull failure: state v2" eq "$(state_release)" v2
t_check "after pull failure: health v2" eq "$(health_release)" v2
t_check "after pull failure: no up ran" eq "$(grep -c '"up"' "$STANDIN/calls.jsonl")" 3
t_check "after pull failure: history says aborted" eq "$(last_history .result)" aborted
t_check "after pull failure: lock released" test ! -e "$APP/.ballast/lock"
rm "$STANDIN/fail-pull-v3"

# ---- faults after the change: roll back ----
touch "$STANDIN/fail-up-v3"
run_deploy deploy qa --release v3
t_check "up failure exits 1" eq "$RC" 1
t_check "up failure: last line says rolled-back" contains "$(printf '%s' "$ERR" | tail -n1)" "rolled-back: v3 failed at up"
t_check "after up failure: state v2" eq "$(state_release)" v2
t_check "after up failure: no pending record" eq "$(json "$APP/.ballast/state.json" 'has("pending")')" false
t_check "after up failure: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"
t_check "after up failure: the rollback brought v2 up" eq "$(grep '"up"' "$STANDIN/calls.jsonl" | tail -n1 | grep -c 'example/backend:v2')" 1
t_check "after up failure: history says rolled-back" eq "$(last_history '"\(.result) \(.failed_step)"')" "rolled-back up"
rm "$STANDIN/fail-up-v3"

echo 500 > "$HTTP_STATE/fail/v3"
run_deploy deploy qa --release v3
t_check "health 500 exits 1" eq "$RC" 1
t_check "health 500: rolled back at verify" contains "$ERR" "rolled-back: v3 failed at verify"
t_check "health 500: the message names the status" contains "$ERR" "expected status 200, got 500"
t_check "after health 500: state v2" eq "$(state_release)" v2
t_check "after health 500: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"

echo hang > "$HTTP_STATE/fail/v3"
start=$(date +%s)
run_deploy deploy qa --release v3
t_check "health hang exits 1" eq "$RC" 1
t_check "health hang: rolled back at verify" contains "$ERR" "rolled-back: v3 failed at verify"
t_check "health hang: the deadline is reported" contains "$ERR" "deadline 3.0s passed"
t_check "health hang: gave up within the deadline plus the rollback" test $(( $(date +%s) - start )) -lt 40
t_check "after health hang: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"
t_check "after health hang: state v2" eq "$(state_release)" v2
rm -f "$HTTP_STATE/fail/v3"

echo unhealthy > "$STANDIN/ps-health-v3"
run_deploy deploy qa --release v3
t_check "compose service unhealthy: rolled back" contains "$ERR" "compose service backend is unhealthy"
t_check "after unhealthy service: state v2" eq "$(state_release)" v2
rm "$STANDIN/ps-health-v3"

# Compose listing no service at all (v1 ignoring `ps --format json`, or
# nothing running) is not a healthy release.
echo none > "$STANDIN/ps-health-v3"
run_deploy deploy qa --release v3
t_check "compose lists no service: exits 1" eq "$RC" 1
t_check "compose lists no service: rolled back at verify" contains "$ERR" "compose lists no running service"
t_check "after no service listed: state v2" eq "$(state_release)" v2
rm "$STANDIN/ps-health-v3"

# ---- SIGTERM mid-deploy: the step ends, the run rolls back and unlocks ----
# A health deadline far beyond the test's steps, so the signal, not the
# deadline, ends the verify however slow the machine is.
HEALTH_DEADLINE=10m new_env sigterm
run_deploy deploy qa --release v2
t_check "SIGTERM: v2 deployed first" eq "$RC $(state_release)" "0 v2"
echo hang > "$HTTP_STATE/fail/v3"
"$DEPLOY" --config "$CFG" deploy qa --release v3 >/dev/null 2>"$WORK/stderr" &
pid=$!
for _ in $(seq 1 1200); do
	grep -q "v3" "$STANDIN/current" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
t_check "SIGTERM: the deploy reached up before the signal" contains "$(cat "$STANDIN/current" 2>/dev/null)" v3
# A run holding the lock with a pending record is in progress, not
# something to roll back (that would only get exit 3).
run_deploy status qa
t_check "status during a deploy: in progress" contains "$OUT" "a deploy of v3 is in progress"
t_check "status during a deploy: no rollback advice" lacks "$OUT" "ATTENTION"
sleep 0.5
kill -TERM "$pid"
wait "$pid"; RC=$?; ERR=$(cat "$WORK/stderr")
t_check "SIGTERM: exit 1 (rolled back)" eq "$RC" 1
t_check "SIGTERM: says it was interrupted" contains "$ERR" "interrupted by signal 15"
t_check "SIGTERM: back on v2" eq "$(state_release) $(health_status) $(health_release)" "v2 200 v2"
t_check "SIGTERM: lock released" test ! -e "$APP/.ballast/lock"
rm -f "$HTTP_STATE/fail/v3"

# ---- on_failure none: stop and say so ----
EXTRA=', "on_failure": "none"' new_env nofix
run_deploy deploy qa --release v1
echo 500 > "$HTTP_STATE/fail/v2"
run_deploy deploy qa --release v2
t_check "on_failure none: exit 4" eq "$RC" 4
t_check "on_failure none: needs attention" contains "$ERR" "failed-needs-attention"
t_check "on_failure none: pending kept for a later rollback" eq "$(json "$APP/.ballast/state.json" .pending.release)" v2
run_deploy status qa
t_check "on_failure none: status advises the rollback" contains "$OUT" "ATTENTION    the deploy of v2 did not finish: run 'ballast-deploy rollback qa'"
run_deploy --json status qa
t_check "on_failure none: status --json says interrupted" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r .pending)" interrupted
run_deploy rollback qa
t_check "rollback after on_failure none: exit 0" eq "$RC" 0
t_check "rollback after on_failure none: v1 again" eq "$(state_release) $(health_release)" "v1 v1"
t_check "rollback after on_failure none: pending gone" eq "$(json "$APP/.ballast/state.json" 'has("pending")')" false
rm -f "$HTTP_STATE/fail/v2"

# ---- a hung compose is killed after compose_timeout; stop_grace ----
EXTRA=', "compose_timeout": "8s", "stop_grace": "2500ms"' new_env hang
run_deploy deploy qa --release v1
t_check "compose_timeout: a quick deploy still works" eq "$RC" 0
t_check "stop_grace: up gets --timeout, rounded up to seconds" contains "$(grep '"up"' "$STANDIN/calls.jsonl" | tail -n1)" '"up","-d","--remove-orphans","--timeout","3"'
run_deploy plan qa --release v2
t_check "stop_grace: plan shows up --timeout" contains "$OUT" "up -d --remove-orphans --timeout 3"
touch "$STANDIN/hang-pull-v2"
run_deploy deploy qa --release v2
t_check "hung pull: exit 1" eq "$RC" 1
t_check "hung pull: aborted, naming the timeout" contains "$(printf '%s' "$ERR" | tail -n1)" "error: aborted, nothing was changed: compose: timed out"
t_check "hung pull: the message says timed out" contains "$ERR" "timed out after 8000ms"
t_check "hung pull: lock released" test ! -e "$APP/.ballast/lock"
rm "$STANDIN/hang-pull-v2"
touch "$STANDIN/hang-up-v2"
run_deploy deploy qa --release v2
t_check "hung up: exit 1 (rolled back)" eq "$RC" 1
t_check "hung up: rolled back at up" contains "$ERR" "rolled-back: v2 failed at up"
t_check "hung up: back on v1" eq "$(state_release) $(health_release)" "v1 v1"
t_check "hung up: lock released" test ! -e "$APP/.ballast/lock"
rm "$STANDIN/hang-up-v2"

# ---- locks ----
new_env locks
run_deploy deploy qa --release v1
run_deploy lock qa acquire -m "db maintenance"
t_check "lock acquire exits 0" eq "$RC" 0
run_deploy lock qa status
t_check "lock status shows the message" contains "$OUT" "db maintenance"
run_deploy deploy qa --release v2
t_check "deploy while locked exits 3" eq "$RC" 3
t_check "deploy while locked names the holder's reason" contains "$ERR" "db maintenance"
t_check "deploy while locked says so once" eq "$(printf '%s\n' "$ERR" | grep -c 'db maintenance')" 1
t_check "deploy while locked changed nothing" eq "$(state_release) $(health_release)" "v1 v1"
t_check "deploy while locked kept the lock" contains "$(cat "$APP/.ballast/lock")" "db maintenance"
run_deploy lock qa release
t_check "lock release exits 0" eq "$RC" 0
t_check "lock file gone" test ! -e "$APP/.ballast/lock"

# a live run's lock (this host, a running pid): waits, then takes it
sleep 30 & holder=$!
printf '{"owner":"ci","host":"%s","pid":%d,"started_at":"now","started":%d,"ttl_s":600,"message":"deploy v9","token":"x","command":"deploy","manual":false}' \
	"$(hostname)" "$holder" "$(date +%s)" > "$APP/.ballast/lock"
run_deploy deploy qa --release v2
t_check "a live run's lock: exit 3" eq "$RC" 3
t_check "a live run's lock: the message names pid and host" contains "$ERR" "(pid $holder)"
( sleep 2; rm -f "$APP/.ballast/lock" ) &
run_deploy deploy qa --release v2 --lock-wait 20
t_check "--lock-wait: deploys once the lock is released" eq "$RC $(state_release)" "0 v2"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
run_deploy lock qa release --force
# a stale lock (past its TTL) is reported and taken over
printf '{"owner":"ci","host":"elsewhere","pid":1,"started_at":"long ago","started":%d,"ttl_s":60,"message":"old deploy","token":"y","command":"deploy","manual":false}' \
	"$(( $(date +%s) - 3600 ))" > "$APP/.ballast/lock"
run_deploy deploy qa --release v3
t_check "a stale lock is taken over: exit 0" eq "$RC" 0
t_check "a stale lock is reported" contains "$ERR" "taking over a stale lock"
t_check "a stale lock: deployed v3" eq "$(state_release)" v3
t_check "a stale lock: released afterwards" test ! -e "$APP/.ballast/lock"
# a run's lock is not released without --force
printf '{"owner":"ci","host":"elsewhere","pid":1,"started_at":"now","started":%d,"ttl_s":600,"message":"running","token":"z","command":"deploy","manual":false}' \
	"$(date +%s)" > "$APP/.ballast/lock"
run_deploy lock qa release
t_check "release of a run's lock without --force: exit 3" eq "$RC" 3
run_deploy lock qa release --force
t_check "release --force: exit 0 and gone" eq "$RC $(test -e "$APP/.ballast/lock" && echo there || echo gone)" "0 gone"

# ---- bad input: exit 2 ----
run_deploy deploy nosuch --release v1
t_check "unknown environment: exit 2" eq "$RC" 2
t_check "unknown environment: lists the known ones" contains "$ERR" "no such environment (have: qa)"
run_deploy deploy qa --release 'bad/tag'
t_check "invalid release: exit 2" eq "$RC" 2
run_deploy deploy qa
t_check "missing --release: exit 2" eq "$RC" 2
run_deploy rollback qa --to v77
t_check "rollback to a release never deployed: exit 2" eq "$RC" 2
t_check "rollback to an unknown release names it" contains "$ERR" "release v77 was never deployed here"
t_check "nothing changed after bad input" eq "$(state_release) $(health_release)" "v3 v3"

# ---- a crash mid-deploy: the next rollback completes the recovery ----
echo ballast-deploy > "$STANDIN/crash-up-v4"
run_deploy deploy qa --release v4
t_check "crash: the deploy process was killed" eq "$RC" 137
t_check "crash: state.json keeps a pending record" eq "$(json "$APP/.ballast/state.json" '"\(.pending.release) \(.release)"')" "v4 v3"
t_check "crash: the lock was left behind" test -e "$APP/.ballast/lock"
run_deploy status qa
t_check "status points at the unfinished deploy" contains "$OUT" "the deploy of v4 did not finish"
run_deploy rollback qa
t_check "rollback after a crash: exit 0" eq "$RC" 0
t_check "rollback after a crash: took over the dead run's lock" contains "$ERR" "is gone"
t_check "rollback after a crash: state v3, no pending" eq "$(json "$APP/.ballast/state.json" '"\(.release) \(has("pending"))"')" "v3 false"
t_check "rollback after a crash: health 200 from v3" eq "$(health_status) $(health_release)" "200 v3"
t_check "rollback after a crash: history says recover" eq "$(last_history '"\(.action) \(.result)"')" "recover rolled-back"
# and the same when the next command is a deploy
run_deploy deploy qa --release v4
t_check "crash again" eq "$RC" 137
rm "$STANDIN/crash-up-v4"
run_deploy deploy qa --release v5
t_check "deploy after a crash: recovers, then deploys" eq "$RC $(state_release) $(health_release)" "0 v5 v5"
t_check "deploy after a crash: the recovery is in the history" eq "$(tail -n2 "$APP/.ballast/history.jsonl" | head -n1 | jq -r '"\(.action) \(.to)"')" "recover v3"

# ---- manual rollback ----
run_deploy rollback qa
t_check "rollback to the previous release: exit 0" eq "$RC" 0
t_check "rollback: state and health on v3" eq "$(state_release) $(health_release)" "v3 v3"
t_check "rollback: history says rollback" eq "$(last_history '"\(.action) \(.from) \(.to)"')" "rollback v5 v3"
run_deploy rollback qa --to v1
t_check "rollback --to v1: exit 0" eq "$RC $(state_release) $(health_release)" "0 v1 v1"

# ---- plan runs nothing ----
calls=$(wc -l < "$STANDIN/calls.jsonl")
run_deploy plan qa --release v6
t_check "plan exits 0" eq "$RC" 0
t_check "plan shows the pull with the image variables" contains "$OUT" "BACKEND_IMAGE=example/backend:v6"
t_check "plan shows the compose command" contains "$OUT" "--env-file .env.qa"
t_check "plan shows the rollback to v1" contains "$OUT" "example/backend:v1"
t_check "plan ran no compose command" eq "$(wc -l < "$STANDIN/calls.jsonl")" "$calls"
run_deploy --json plan qa --release v6
t_check "plan --json ends with a result line" eq "$(printf '%s\n' "$OUT" | tail -n1 | jq -r '"\(.event) \(.steps[0].step)"')" "result lock"

# ---- status, history, check ----
run_deploy status qa
t_check "status shows the release" contains "$OUT" "release      v1"
t_check "status shows the lock free" contains "$OUT" "lock         free"
run_deploy --json history qa -n 0
t_check "history --json lists every run" eq "$(printf '%s\n' "$OUT" | tail -n1 | jq '.history | length')" "$(wc -l < "$APP/.ballast/history.jsonl")"
run_deploy check qa
t_check "check: connection, files, disk, compose pass" eq "$RC" 0
t_check "check lists the env file" contains "$OUT" ".env.qa"
rm "$APP/.env.qa"
run_deploy check qa
t_check "check without the env file fails" eq "$RC" 1
t_check "check names the failing check once" eq "$(printf '%s\n' "$ERR" | grep -c '.env.qa')" 1

# ---- check before the first deploy: the health check is skipped, and says why ----
new_env firstcheck
run_deploy check qa
t_check "check before the first deploy passes" eq "$RC" 0
t_check "check says the health check was skipped" contains "$OUT$ERR" "skipped: no release is deployed yet"

# ---- hooks ----
mkdir -p "$WORK/hooks"
cat > "$WORK/hooks/record" <<'SH'
#!/bin/sh
echo "$BALLAST_PHASE env=$BALLAST_ENV rel=$BALLAST_RELEASE prev=$BALLAST_PREVIOUS_RELEASE" >> "$(dirname "$0")/log"
[ "$BALLAST_PHASE" = on-failure ] && printf '%s\n' "${BALLAST_ERROR:-}" > "$(dirname "$0")/error"
exit 0
SH
printf '#!/bin/sh\necho "refusing" >&2\nexit 3\n' > "$WORK/hooks/refuse"
chmod +x "$WORK/hooks/record" "$WORK/hooks/refuse"
EXTRA=", \"hooks\": { \"pre-deploy\": \"$WORK/hooks/record\", \"pre-up\": [\"$WORK/hooks/record\"], \"post-verify\": \"$WORK/hooks/record\", \"on-failure\": \"$WORK/hooks/record\", \"post-rollback\": \"$WORK/hooks/record\" }" new_env hooks
run_deploy deploy qa --release v1
run_deploy deploy qa --release v2
t_check "hooks: phases in order with their environment" eq "$(tail -n3 "$WORK/hooks/log" | tr '\n' '|')" "pre-deploy env=qa rel=v2 prev=v1|pre-up env=qa rel=v2 prev=v1|post-verify env=qa rel=v2 prev=v1|"
echo 500 > "$HTTP_STATE/fail/v3"
run_deploy deploy qa --release v3
t_check "hooks: on-failure and post-rollback ran" eq "$(tail -n2 "$WORK/hooks/log" | cut -d' ' -f1 | tr '\n' ' ')" "on-failure post-rollback "
t_check "hooks: on-failure gets BALLAST_ERROR" contains "$(cat "$WORK/hooks/error")" "health"
rm -f "$HTTP_STATE/fail/v3"
EXTRA=", \"hooks\": { \"pre-deploy\": \"$WORK/hooks/refuse\" }" new_env hookfail
run_deploy deploy qa --release v1
t_check "a failing pre-deploy hook aborts: exit 1" eq "$RC" 1
t_check "a failing pre-deploy hook is named" contains "$ERR" "hook pre-deploy"
t_check "a failing pre-deploy hook: nothing pulled or up" test ! -e "$STANDIN/calls.jsonl"
t_check "a failing pre-deploy hook: no state" test ! -e "$APP/.ballast/state.json"

# ---- "lint": true: the compose file must pass the lint rules ----
EXTRA=', "lint": true' new_env lint
run_deploy deploy qa --release v1
t_check "lint: a compose file breaking the rules aborts the deploy (exit 1)" eq "$RC" 1
t_check "lint: the preflight names the lint check" contains "$ERR" "preflight lint"
t_check "lint: no pull or up ran" eq "$(grep -c '"pull"\|"up"' "$STANDIN/calls.jsonl")" 0
# The files it includes are read on the target and linted with it.
EXTRA=', "lint": true' new_env lintinc
{ printf 'include: [extra/cache.yml]\nservices:\n'; compose_hardened backend '${BACKEND_IMAGE}'; } > "$APP/docker-compose.yml"
mkdir -p "$APP/extra"
{ echo 'services:'; compose_hardened cache redis:latest '    restrat: always'; } > "$APP/extra/cache.yml"
run_deploy deploy qa --release v1
t_check "lint: an included file's unknown key aborts the deploy" eq "$RC" 1
t_check "lint: the included service and rule are named" contains "$ERR" "cache: unknown-key"
sed -i '/restrat/d' "$APP/extra/cache.yml"
run_deploy deploy qa --release v1
t_check "lint: a moving image tag is only a warning where the environment is not immutable" eq "$RC" 0

# ---- history: a long release name keeps the columns aligned ----
new_env histwidth
run_deploy deploy qa --release v1
run_deploy deploy qa --release v7.0.0-release-candidate-with-a-long-name
run_deploy history qa
t_check "history: two lines" eq "$(printf '%s\n' "$OUT" | grep -c ' -> ')" 2
t_check "history: every line's arrow in one column" eq "$(printf '%s\n' "$OUT" | awk '/ -> / { print index($0, " -> ") }' | sort -u | wc -l)" 1

t_done

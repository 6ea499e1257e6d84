# Shared by the deploy shell suites (sourced, not a suite itself).
#
# new_env NAME [TRANSPORT_JSON]: a fresh application directory with a compose
# file and an env file (holding a secret that must never be printed), a
# stand-in compose state directory wired to the http service, and a
# ballast.json with environment "qa" in $cfg. Extra environment keys can be
# given in $EXTRA (JSON members, with a leading comma).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SVC=${BALLAST_TEST_SVC:?}
DEPLOY=$B/ballast-deploy
# Where ballast-backup and ballast-migrate come from (the build, unless a
# developer points it at another build of the same tree).
TOOLS=${BALLAST_DEPLOY_TOOLS_DIR:-$B}
HTTP_STATE=$(cat "$SVC/http/state")
HEALTH_URL=$(cat "$SVC/http/url")
SECRET=s3cr3t-deploy-pw-4711
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-deploy-test-XXXXXX")
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
# json FILE FILTER: a jq filter on a file, raw output
json() { jq -r "$2" "$1"; }
health_release() { curl -s -m 3 "$HEALTH_URL" | jq -r .release 2>/dev/null; }
health_status() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$HEALTH_URL"; }
state_release() { json "$APP/.ballast/state.json" .release; }
last_history() { tail -n 1 "$APP/.ballast/history.jsonl" | jq -r "$1"; }

# run_deploy ARGS...: runs ballast-deploy with $cfg; sets RC, OUT, ERR.
run_deploy() {
	OUT=$("$DEPLOY" --config "$CFG" "$@" 2>"$WORK/stderr"); RC=$?
	ERR=$(cat "$WORK/stderr")
	lacks "$OUT$ERR" "$SECRET" || t_fail "secret leaked by: $*"
}

new_env() {
	local name=$1 transport=${2:-'{"type": "local"}'}
	APP=$WORK/$name/app
	STANDIN=$WORK/$name/standin
	CFG=$WORK/$name/ballast.json
	mkdir -p "$APP" "$STANDIN"
	chmod 755 "$WORK/$name"
	ln -s "$HTTP_STATE" "$STANDIN/health"
	rm -f "$HTTP_STATE/release" "$HTTP_STATE"/fail/*
	printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n' > "$APP/docker-compose.yml"
	printf 'NS=example\nDB_PASSWORD=%s\n' "$SECRET" > "$APP/.env.qa"
	cat > "$CFG" <<JSON
{
  "project": "t",
  "images": { "BACKEND_IMAGE": "\${NS}/backend", "WORKER_IMAGE": "\${NS}/worker" },
  ${TOP_EXTRA:-}
  "environments": {
    "qa": {
      "transport": $transport,
      "app_dir": "$APP",
      "compose_file": "docker-compose.yml",
      "env_file": ".env.qa",
      "compose_command": ["$S/tests/standin/compose", "--standin", "$STANDIN"],
      "docker_command": ["$S/tests/standin/compose", "--standin", "$STANDIN"],
      "backup_command": ["$TOOLS/ballast-backup"],
      "migrate_command": ["$TOOLS/ballast-migrate"],
      "min_free": "1M",
      "snapshot": ${SNAPSHOT:-false},
      "data_restore": "${DATA_RESTORE:-never}",
      "lock_ttl": "10m",
      "health": [ { "url": "$HEALTH_URL", "status": 200, "body": "\"status\": \"ok\"",
                    "timeout": "1s", "interval": "100ms", "deadline": "${HEALTH_DEADLINE:-3s}", "stable_for": "300ms" } ]
      ${EXTRA:-}
    }
  }
}
JSON
}

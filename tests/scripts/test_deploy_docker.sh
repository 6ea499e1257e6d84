#!/usr/bin/env bash
# services: docker pg
# ballast-deploy against real containers: a private dockerd and a local
# registry (tests/services/docker.sh), images built here from busybox
# (tests/data/docker-app) and pulled by compose, once with compose v2
# (`docker compose`) and once with compose v1 (`docker-compose`, which has
# no `ps --format json`). Each version: deploy, redeploy, a release whose
# container healthcheck fails while /health answers 200 (rolled back), a
# missing tag (aborted), each checked with `docker inspect` (image and
# container id) and over the port published on 127.0.0.1; with v2 also
# /health 500, compose up failing and /health timing out (each rolled
# back), `status` while a deploy runs, a concurrent
# deploy (exit 3) and kill -9 mid-verify then `rollback`. With both: a
# release with an irreversible migration whose /health fails: the database
# (on the test cluster) is restored from the pre-deploy snapshot while the
# app's container is stopped, and the previous image runs in a new
# container; with v2 then a migration that fails (rolled back, the
# container and every row untouched).
. "$(dirname "$0")/lib.sh"

SVC=${BALLAST_TEST_SVC:?}
DEPLOY=$B/ballast-deploy
DOCKER=$(cat "$SVC/docker/docker")
export DOCKER_HOST DOCKER_CONFIG
DOCKER_HOST=$(cat "$SVC/docker/host")
DOCKER_CONFIG=$(cat "$SVC/docker/docker_config")
REG=$(cat "$SVC/docker/registry")
BASE=$(cat "$SVC/docker/base_image")
COMPOSE_V1=$(cat "$SVC/docker/compose_v1")
SECRET=s3cr3t-docker-pw-4711
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-docker-test-XXXXXX")
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

die() { echo "test_deploy_docker: $*" >&2; exit 1; }

. "$S/tests/services/lib.sh"   # svc_free_port

run_deploy() {
	OUT=$("$DEPLOY" --config "$CFG" "$@" 2>"$WORK/stderr"); RC=$?
	ERR=$(cat "$WORK/stderr")
	lacks "$OUT$ERR" "$SECRET" || t_fail "secret leaked by: $*"
}

# ---- images: one build, pushed under every release tag, then removed so
# that compose pulls. v1, v2 are good; badhc's container healthcheck fails
# while its /health answers 200; bad500's /health answers 500, slow's
# answers after a minute (app.sh); noexec cannot start.
DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$BASE" -t "$REG/t/backend:v1" \
	"$S/tests/data/docker-app" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; die "docker build failed"; }
# noexec: an entrypoint that does not exist, so `compose up` itself fails
# (the engine cannot start the container).
mkdir -p "$WORK/noexec"
printf 'FROM %s\nENTRYPOINT ["/no/such/entrypoint"]\n' "$REG/t/backend:v1" > "$WORK/noexec/Dockerfile"
DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$REG/t/backend:noexec" "$WORK/noexec" >"$WORK/build.log" 2>&1 ||
	{ cat "$WORK/build.log" >&2; die "docker build of noexec failed"; }
for tag in v1 v2 badhc bad500 slow noexec; do
	[ "$tag" = v1 ] || [ "$tag" = noexec ] || "$DOCKER" tag "$REG/t/backend:v1" "$REG/t/backend:$tag" || die "docker tag $tag failed"
	"$DOCKER" push -q "$REG/t/backend:$tag" >"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "docker push of $tag failed"; }
done
for tag in v1 v2 badhc bad500 slow noexec; do "$DOCKER" rmi "$REG/t/backend:$tag" >/dev/null 2>&1; done

# The first release's compose file: one service publishing APP_PORT.
compose_r1() {
	cat > "$APP/docker-compose.yml" <<'YML'
services:
  backend:
    image: ${BACKEND_IMAGE}
    environment: { APP_IMAGE: "${BACKEND_IMAGE}" }
    ports: ["127.0.0.1:${APP_PORT}:8080"]
YML
}
# new_env NAME COMPOSE_JSON: an app dir with a compose file publishing the
# backend on 127.0.0.1:$PORT and a ballast.json with environment "qa".
new_env() {
	local name=$1 compose=$2
	APP=$WORK/$name/app
	CFG=$WORK/$name/ballast.json
	PROJECT=bt$name
	PORT=$(svc_free_port)
	HEALTH_URL=http://127.0.0.1:$PORT/cgi-bin/health
	mkdir -p "$APP"
	compose_r1
	printf 'NS=%s/t\nAPP_PORT=%s\nDB_PASSWORD=%s\n' "$REG" "$PORT" "$SECRET" > "$APP/.env.qa"
	cat > "$CFG" <<JSON
{
  "project": "t",
  "images": { "BACKEND_IMAGE": "\${NS}/backend" },
  "environments": {
    "qa": {
      "transport": {"type": "local"},
      "app_dir": "$APP",
      "env_file": ".env.qa",
      "project_name": "$PROJECT",
      $compose
      "docker_command": ["$DOCKER"],
      "backup_command": ["$B/ballast-backup"],
      "migrate_command": ["$B/ballast-migrate"],
      "min_free": "1M",
      "lock_ttl": "10m",
      "compose_timeout": "3m",
      "stop_grace": "2s",
      "health": [ { "url": "$HEALTH_URL", "status": 200, "body": "\"status\": \"ok\"",
                    "timeout": "2s", "interval": "250ms", "deadline": "${DEADLINE:-10s}" } ]
    }
  }
}
JSON
}

health_release() { curl -s -m 3 "$HEALTH_URL" | jq -r .release 2>/dev/null; }
state_release() { jq -r .release "$APP/.ballast/state.json"; }
last_history() { tail -n 1 "$APP/.ballast/history.jsonl" | jq -r "$1"; }
# The backend container of the project: its id and its image reference.
cid() { "$DOCKER" ps -q --no-trunc --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=backend"; }
cimage() { local c; c=$(cid); [ -n "$c" ] && "$DOCKER" inspect --format '{{.Config.Image}}' $c; }
# down PROJECT: remove a finished part's containers. Every container runs
# its healthcheck each second (a runc exec: the suite's largest CPU cost),
# so only the part under test keeps containers.
down() { "$DOCKER" rm -f $("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$1") >/dev/null 2>&1 || true; }
# The digest reference a release's bundle pinned the backend to.
pinned() { jq -r .services.backend.digest "$APP/.ballast/releases/$1/bundle.json" 2>/dev/null; }

suite() {
	local v=$1 compose=$2 c1 c2
	new_env "$v" "$compose"

	run_deploy deploy qa --release v1
	t_check "$v: first deploy exits 0" eq "$RC" 0
	t_check "$v: the compose version" contains "$("$DOCKER" inspect --format '{{index .Config.Labels "com.docker.compose.version"}}' $(cid))" "${v#v}."
	t_check "$v: last line says deployed" contains "$(printf '%s' "$OUT" | tail -n1)" "deployed: qa is on v1"
	t_check "$v: the bundle pinned v1 to a digest of its repository" starts "$(pinned v1)" "$REG/t/backend@sha256:"
	t_check "$v: the container runs v1's pinned digest" eq "$(cimage)" "$(pinned v1)"
	t_check "$v: /health on the published port says v1" eq "$(health_release)" v1
	t_check "$v: state.json records v1" eq "$(state_release)" v1
	c1=$(cid)

	run_deploy deploy qa --release v2
	t_check "$v: second deploy exits 0" eq "$RC" 0
	t_check "$v: the container runs the v2 image" eq "$(cimage)" "$(pinned v2)"
	c2=$(cid)
	t_check "$v: v2 is a new container" ne "$c2" "$c1"
	t_check "$v: /health says v2" eq "$(health_release)" v2

	# The container healthcheck fails while /health is fine: only compose's
	# view of the service can tell (v1: ps -q + docker inspect).
	run_deploy deploy qa --release badhc
	t_check "$v: unhealthy container exits 1" eq "$RC" 1
	t_check "$v: unhealthy container is rolled back at verify" contains "$ERR" "rolled-back: badhc failed at verify"
	t_check "$v: the reason is the unhealthy service" contains "$ERR" "compose service backend is unhealthy"
	t_check "$v: after the rollback the container runs v2" eq "$(cimage)" "$(pinned v2)"
	t_check "$v: after the rollback /health says v2" eq "$(health_release)" v2
	t_check "$v: after the rollback state.json says v2" eq "$(state_release)" v2
	t_check "$v: history says rolled-back at verify" eq "$(last_history '"\(.result) \(.failed_step)"')" "rolled-back verify"

	c2=$(cid)
	run_deploy deploy qa --release nosuchtag
	t_check "$v: a missing tag exits 1" eq "$RC" 1
	t_check "$v: a missing tag: the last line starts with aborted" starts "$(printf '%s' "$ERR" | tail -n1 | sed 's/^ballast-deploy: error: //')" "aborted"
	t_check "$v: a missing tag: history says aborted at pull" eq "$(last_history '"\(.result) \(.failed_step)"')" "aborted pull"
	t_check "$v: a missing tag: the same container still runs" eq "$(cid)" "$c2"
	t_check "$v: a missing tag: the lock is released" test ! -e "$APP/.ballast/lock"

	[ "$v" = v2 ] || return 0  # /health is compose-agnostic: once is enough
	run_deploy deploy qa --release bad500
	t_check "$v: health 500 exits 1" eq "$RC" 1
	t_check "$v: health 500 names the status" contains "$ERR" "expected status 200, got 500"
	t_check "$v: after health 500 the container runs v2" eq "$(cimage)" "$(pinned v2)"
	t_check "$v: after health 500 /health says v2" eq "$(health_release)" v2

	# compose up itself fails: the engine cannot start the new container
	run_deploy deploy qa --release noexec
	t_check "$v: up failure exits 1" eq "$RC" 1
	t_check "$v: up failure is rolled back at up" contains "$(printf '%s' "$ERR" | tail -n1)" "rolled-back: noexec failed at up"
	t_check "$v: up failure: compose's reason reaches the user" contains "$ERR" "/no/such/entrypoint"
	t_check "$v: after the up failure the container runs v2" eq "$(cimage)" "$(pinned v2)"
	t_check "$v: after the up failure /health says v2" eq "$(health_release)" v2

	# /health never answers in time: each request times out, then the
	# deadline passes
	run_deploy deploy qa --release slow
	t_check "$v: health timeout exits 1" eq "$RC" 1
	t_check "$v: health timeout is rolled back at verify" contains "$(printf '%s' "$ERR" | tail -n1)" "rolled-back: slow failed at verify"
	t_check "$v: health timeout says the deadline passed" contains "$ERR" "deadline"
	t_check "$v: after the health timeout the container runs v2" eq "$(cimage)" "$(pinned v2)"
	t_check "$v: after the health timeout /health says v2" eq "$(health_release)" v2
}

suite v2 "\"compose_command\": [\"$DOCKER\", \"compose\"],"

# status while a deploy runs: the deploy of badhc sits in verify until its
# deadline, holding the lock with a pending record; a second deploy meanwhile
# gets exit 3; then the run is killed with SIGKILL and rolled back.
# It waits for the verify step itself (-v prints each step as it begins): a
# kill earlier (in up) is the next case's.
# Its health deadline is far beyond the steps below, so the kill, not the
# deadline, ends its verify however slow the machine is.
BGCFG=$(dirname "$CFG")/bg.json
jq '.environments.qa.health[0].deadline = "10m"' "$CFG" > "$BGCFG"
"$DEPLOY" --config "$BGCFG" -v deploy qa --release badhc >"$WORK/bg.out" 2>"$WORK/bg.err" &
bg=$!
for _ in $(seq 1 1200); do
	grep -q "verify: health checks" "$WORK/bg.err" 2>/dev/null && break
	kill -0 "$bg" 2>/dev/null || break
	sleep 0.1
done
t_check "v2: the background deploy reached verify" contains "$(cat "$WORK/bg.err")" "verify: health checks"
run_deploy status qa
t_check "v2: status during a deploy says it is in progress" contains "$OUT" "a deploy of badhc is in progress"
t_check "v2: status during a deploy does not advise a rollback" lacks "$OUT" "ATTENTION"
run_deploy --json status qa
t_check "v2: status --json marks the pending deploy running" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r .pending)" running
run_deploy deploy qa --release v1
t_check "v2: a concurrent deploy exits 3" eq "$RC" 3
# kill -9 mid-verify: the lock's pid is gone, status says so, and rollback
# brings v2 back.
kill -9 "$bg"
wait "$bg" 2>/dev/null
run_deploy status qa
t_check "v2: after kill -9 status advises the rollback" contains "$OUT" "ATTENTION    the deploy of badhc did not finish"
run_deploy rollback qa
t_check "v2: rollback after kill -9 exits 0" eq "$RC" 0
t_check "v2: after the rollback the container runs v2" eq "$(cimage)" "$(pinned v2)"
t_check "v2: after the rollback /health says v2" eq "$(health_release)" v2
t_check "v2: after the rollback no pending record" eq "$(jq -r 'has("pending")' "$APP/.ballast/state.json")" false

# kill -9 during up: compose runs in its own process group, so nothing but
# the kernel stops it when the deploy dies; left running, it recreated the
# container under the rollback's feet ("the container name ... is already
# in use"). A wrapper holds the deploy's `up` for 3 s before it would run
# compose; the deploy is killed meanwhile. The wrapper must die with it
# (it never reaches compose), and the rollback must bring v2 back.
cat > "$WORK/compose-hold" <<SH
#!/bin/sh
case " \$* " in
*" up "*)
	if rm "$WORK/hold.arm" 2>/dev/null; then
		echo \$\$ > "$WORK/hold.pid"
		sleep 3
		echo "compose up ran after the deploy was killed" > "$WORK/hold.late"
	fi ;;
esac
exec "\$@"
SH
chmod 755 "$WORK/compose-hold"
jq --arg w "$WORK/compose-hold" --arg d "$DOCKER" '.environments.qa.compose_command = [$w, $d, "compose"]' \
	"$CFG" > "$CFG.hold" && mv "$CFG.hold" "$CFG"
touch "$WORK/hold.arm"
"$DEPLOY" --config "$CFG" deploy qa --release badhc >"$WORK/bg.out" 2>"$WORK/bg.err" &
bg=$!
for _ in $(seq 1 1200); do
	[ -s "$WORK/hold.pid" ] && break
	kill -0 "$bg" 2>/dev/null || break
	sleep 0.1
done
t_check "v2: the background deploy reached up" eq "$([ -s "$WORK/hold.pid" ] && echo yes)" yes
kill -9 "$bg"
wait "$bg" 2>/dev/null
held=$(cat "$WORK/hold.pid" 2>/dev/null)
for _ in $(seq 1 50); do
	[ -n "$held" ] && kill -0 "$held" 2>/dev/null || break
	sleep 0.1
done
t_check "v2: compose (the wrapper) died with the killed deploy" eq "$([ -n "$held" ] && kill -0 "$held" 2>/dev/null && echo alive)" ""
run_deploy rollback qa
t_check "v2: rollback after kill -9 in up exits 0" eq "$RC" 0
sleep 3.5
t_check "v2: the killed deploy's compose up never ran" eq "$(cat "$WORK/hold.late" 2>/dev/null)" ""
t_check "v2: after that rollback the container runs v2" eq "$(cimage)" "$(pinned v2)"
t_check "v2: after that rollback /health says v2" eq "$(health_release)" v2
down "$PROJECT"

if [ -n "$COMPOSE_V1" ]; then
	# No compose_command, and a docker CLI without the compose plugin: ballast
	# must find `docker-compose` itself.
	mkdir -p "$WORK/noplugins"
	DOCKER_CONFIG=$WORK/noplugins suite v1 ""
	t_check "v1: compose_command detected: the container was made by compose 1.x" \
		contains "$("$DOCKER" inspect --format '{{index .Config.Labels "com.docker.compose.version"}}' $(cid))" "1."
	down "$PROJECT"
else
	t_fail "compose v1 (docker-compose) is not installed: scripts/deps.sh installs it"
fi

# ---- irreversible migration + health 500, with compose v2 and v1: the
# database is restored from the pre-deploy snapshot. The app's database
# lives on the suite's PostgreSQL; ballast-backup runs behind a wrapper
# that records, when the restore starts, what the engine says about the
# project's containers (the backend must be stopped: stop-app).
# Afterwards: v1's image id in a new running container, the schema
# version and every table's rows (hashed) as before the deploy.
PGHOST=$(cat "$SVC/pg/host"); PGPORT=$(cat "$SVC/pg/port")
export PGHOST PGPORT PGUSER=postgres
checksums() {
	psql -X -At -d app -c "SELECT format('SELECT %L || '' '' || md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '''')) FROM %I.%I t;', n.nspname || '.' || c.relname, n.nspname, c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND c.relname <> 'ballast_migrations'
		ORDER BY 1" | psql -X -At -d app
}
mkdir -p "$WORK/rel/v1" "$WORK/rel/bad500"
echo "CREATE TABLE audit_log (id bigserial PRIMARY KEY, msg text NOT NULL); INSERT INTO audit_log (msg) VALUES ('v1');" > "$WORK/rel/v1/1_audit_log.up.sql"
echo "DROP TABLE audit_log;" > "$WORK/rel/v1/1_audit_log.down.sql"
cp "$WORK/rel/v1/"* "$WORK/rel/bad500/"
# irreversible: drops a column and rows, and has no down file
echo "ALTER TABLE customer DROP COLUMN active; DELETE FROM payment WHERE amount < 1;" > "$WORK/rel/bad500/2_drop_active.up.sql"
schema_version() { "$B/ballast-migrate" --config "$CFG" --json status | tail -n1 | jq -r .current_version; }

restore_case() { # VERSION COMPOSE_JSON
	local v=$1 c1 c3 v1_image base
	psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS app" -c "CREATE DATABASE app" >/dev/null ||
		die "CREATE DATABASE app failed"
	psql -q -X -v ON_ERROR_STOP=1 -d app >/dev/null <<'SQL' || die "seeding app failed"
CREATE TABLE customer (id int PRIMARY KEY, email text, active boolean NOT NULL);
INSERT INTO customer SELECT g, 'c' || g || '@example.com', g % 7 <> 0 FROM generate_series(1, 3000) g;
CREATE TABLE payment (id bigserial PRIMARY KEY, customer_id int REFERENCES customer, amount numeric(8,2));
INSERT INTO payment (customer_id, amount) SELECT 1 + g % 3000, (g % 997) / 100.0 FROM generate_series(1, 20000) g;
SQL
	DEADLINE=5s new_env "restore$v" "$2"
	mkdir -p "$WORK/restore$v/repo"
	cat > "$WORK/restore$v/backup-wrap" <<SH
#!/usr/bin/env bash
for a; do
	if [ "\$a" = restore ]; then
		c=\$("$DOCKER" ps -aq --no-trunc --filter label=com.docker.compose.project=$PROJECT --filter label=com.docker.compose.service=backend)
		echo "running=\$("$DOCKER" ps -q --filter label=com.docker.compose.project=$PROJECT | wc -l) backend=\$([ -n "\$c" ] && "$DOCKER" inspect --format '{{.State.Status}}' \$c)" >> "$WORK/restore$v/restores"
		break
	fi
done
exec "$B/ballast-backup" "\$@"
SH
	chmod +x "$WORK/restore$v/backup-wrap"
	jq --arg w "$WORK/restore$v/backup-wrap" --arg repo "$WORK/restore$v/repo" --arg cfg "$CFG" \
		--arg ci "host=$PGHOST port=$PGPORT user=postgres dbname=app" '
		.repository = {type: "local", path: $repo}
		| .databases = [{name: "app", conninfo: $ci}]
		| .migrations = {database: "app", dir: "migrations"}
		| .environments.qa += {backup_command: [$w], config: $cfg, snapshot: true, data_restore: "if-irreversible"}' \
		"$CFG" > "$CFG.new" && mv "$CFG.new" "$CFG"
	"$B/ballast-backup" --config "$CFG" init >/dev/null || die "ballast-backup init failed"

	run_deploy deploy qa --release v1 --migrations "$WORK/rel/v1"
	t_check "$v restore: v1 deployed with its migration" eq "$RC $(schema_version)" "0 1"
	c1=$(cid)
	v1_image=$("$DOCKER" inspect --format '{{.Image}}' "$c1")
	base=$(checksums)
	t_check "$v restore: the baseline hashes cover every table" eq "$(printf '%s\n' "$base" | awk '{print $1}' | paste -sd' ')" "public.audit_log public.customer public.payment"

	run_deploy -v deploy qa --release bad500 --migrations "$WORK/rel/bad500"
	t_check "$v restore: exit 1" eq "$RC" 1
	t_check "$v restore: the last line says rolled-back-with-restore at verify" contains "$(printf '%s' "$ERR" | tail -n1)" "rolled-back-with-restore: bad500 failed at verify"
	t_check "$v restore: the downgrade was refused as irreversible" contains "$ERR" "irreversible"
	t_check "$v restore: stop-app, restore, rollback-up in the history" eq "$(last_history '[.steps[].step | select(. == "stop-app" or . == "restore" or . == "start-app" or . == "rollback-up")] | join(",")')" "stop-app,restore,rollback-up"
	t_check "$v restore: one restore ran, with the project's containers stopped" eq "$(cat "$WORK/restore$v/restores" 2>/dev/null)" "running=0 backend=exited"
	c3=$(cid)
	t_check "$v restore: a backend container runs" test -n "$c3"
	t_check "$v restore: it runs v1's image id (docker inspect)" eq "$("$DOCKER" inspect --format '{{.Image}}' $c3)" "$v1_image"
	t_check "$v restore: it runs v1's pinned digest" eq "$(cimage)" "$(pinned v1)"
	t_check "$v restore: it is a new container" ne "$c3" "$c1"
	t_check "$v restore: it is running" eq "$("$DOCKER" inspect --format '{{.State.Status}}' $c3)" running
	t_check "$v restore: compose $v made it" starts "$("$DOCKER" inspect --format '{{index .Config.Labels "com.docker.compose.version"}}' $c3)" "${v#v}."
	t_check "$v restore: /health says v1" eq "$(health_release)" v1
	t_check "$v restore: state.json on v1, nothing pending" eq "$(state_release) $(jq -r 'has("pending")' "$APP/.ballast/state.json")" "v1 false"
	t_check "$v restore: schema version 1 again" eq "$(schema_version)" 1
	t_check "$v restore: the dropped column is back" eq "$(psql -X -At -d app -c "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customer' AND column_name = 'active'")" 1
	t_check "$v restore: every table's rows as before the deploy" eq "$(checksums)" "$base"
	t_check "$v restore: the lock is released" test ! -e "$APP/.ballast/lock"

	if [ "$v" = v2 ]; then
		# a migration that fails: its transaction leaves the schema as it
		# was, nothing to downgrade or restore, the running container stays
		mkdir -p "$WORK/rel/badmig"
		cp "$WORK/rel/v1/"* "$WORK/rel/badmig/"
		echo "ALTER TABLE no_such_table ADD COLUMN x int;" > "$WORK/rel/badmig/2_broken.up.sql"
		echo "SELECT 1;" > "$WORK/rel/badmig/2_broken.down.sql"
		run_deploy deploy qa --release v2 --migrations "$WORK/rel/badmig"
		t_check "$v migrate failure: exit 1" eq "$RC" 1
		t_check "$v migrate failure: rolled back at migrate" contains "$(printf '%s' "$ERR" | tail -n1)" "v2 failed at migrate"
		t_check "$v migrate failure: the server's reason reaches the user" contains "$ERR" "no_such_table"
		t_check "$v migrate failure: the same container still runs" eq "$(cid)" "$c3"
		t_check "$v migrate failure: schema version 1" eq "$(schema_version)" 1
		t_check "$v migrate failure: every table's rows as before" eq "$(checksums)" "$base"
		t_check "$v migrate failure: /health says v1" eq "$(health_release)" v1
	fi
	down "$PROJECT"
}
restore_case v2 "\"compose_command\": [\"$DOCKER\", \"compose\"],"
[ -z "$COMPOSE_V1" ] || DOCKER_CONFIG=$WORK/noplugins restore_case v1 ""

# ---- release bundles (compose v2): what a rollback brings back is the
# bundle, not what the tag or app_dir say today. Three releases whose
# images differ in /marker: r1 publishes the backend on P1; r2 and r3 on P2
# and add a service "extra". Then r1's tag is re-pushed with other bytes
# (and the local tag follows it) and `rollback --to r1` goes two releases
# back; a corrupt bundle is refused; the registry is stopped and a
# rollback to r3 works from the local images. No HTTP health check here
# (the published port moves): compose's view of the services verifies.
mk_image() { # TAG MARKER
	mkdir -p "$WORK/img-$2"
	printf 'FROM %s\nRUN echo %s > /marker\n' "$REG/t/backend:v1" "$2" > "$WORK/img-$2/Dockerfile"
	DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$REG/t/backend:$1" "$WORK/img-$2" >"$WORK/build.log" 2>&1 &&
		"$DOCKER" push -q "$REG/t/backend:$1" >>"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "building $1 ($2) failed"; }
}
svc_cid() { "$DOCKER" ps -q --no-trunc --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
marker() { local c; c=$(svc_cid backend); [ -n "$c" ] && "$DOCKER" exec "$c" cat /marker; }
cimage_id() { local c; c=$(svc_cid backend); [ -n "$c" ] && "$DOCKER" inspect --format '{{.Image}}' $c; }
port_release() { curl -s -m 3 "http://127.0.0.1:$1/cgi-bin/health" | jq -r .release 2>/dev/null; }
compose_r2() {
	cat > "$APP/docker-compose.yml" <<'YML'
services:
  backend:
    image: ${BACKEND_IMAGE}
    environment: { APP_IMAGE: "${BACKEND_IMAGE}" }
    ports: ["127.0.0.1:${APP_PORT2}:8080"]
  extra:
    image: ${BACKEND_IMAGE}
    environment: { APP_IMAGE: "${BACKEND_IMAGE}" }
YML
}

mk_image r1 one
mk_image r2 two
mk_image r3 three
R1_ID=$("$DOCKER" image inspect --format '{{.Id}}' "$REG/t/backend:r1")
for tag in r1 r2 r3; do "$DOCKER" rmi "$REG/t/backend:$tag" >/dev/null 2>&1; done

new_env bundles "\"compose_command\": [\"$DOCKER\", \"compose\"],"
P1=$PORT
P2=$(svc_free_port)
printf 'APP_PORT2=%s\n' "$P2" >> "$APP/.env.qa"
jq 'del(.environments.qa.health)' "$CFG" > "$CFG.new" && mv "$CFG.new" "$CFG"
compose_r1
run_deploy deploy qa --release r1
t_check "bundles: r1 deployed" eq "$RC" 0
t_check "bundles: r1 runs its image (marker one) on P1" eq "$(marker) $(port_release "$P1")" "one r1"
t_check "bundles: r1's bundle records the image id" eq "$(jq -r .services.backend.id "$APP/.ballast/releases/r1/bundle.json")" "$R1_ID"
compose_r2
run_deploy deploy qa --release r2
t_check "bundles: r2 deployed" eq "$RC" 0
t_check "bundles: r2 adds the extra service" test -n "$(svc_cid extra)"
t_check "bundles: r2 moved the backend to P2" eq "$(port_release "$P2")" r2
run_deploy deploy qa --release r3
t_check "bundles: r3 deployed" eq "$RC $(marker)" "0 three"

# r1's tag now names other bytes, in the registry and locally
mk_image r1 one-repushed
t_check "bundles: the re-pushed r1 tag is another image" ne "$("$DOCKER" image inspect --format '{{.Id}}' "$REG/t/backend:r1")" "$R1_ID"
run_deploy rollback qa --to r1
t_check "bundles: rollback two releases back exits 0" eq "$RC" 0
t_check "bundles: state.json on r1" eq "$(state_release)" r1
t_check "bundles: the rollback runs r1's recorded image id, not the re-pushed tag" eq "$(cimage_id)" "$R1_ID"
t_check "bundles: /marker inside the container is r1's" eq "$(marker)" one
t_check "bundles: the service r2 added is removed" eq "$(svc_cid extra)" ""
t_check "bundles: the backend is back on P1" eq "$(port_release "$P1")" r1
t_check "bundles: nothing answers on P2 any more" eq "$(port_release "$P2")" ""

# A corrupt bundle is refused before anything changes.
run_deploy rollback qa --to r3
t_check "bundles: rollback to r3 exits 0" eq "$RC $(marker)" "0 three"
c3=$(svc_cid backend)
echo "APP_PORT=1" >> "$APP/.ballast/releases/r1/env"
run_deploy rollback qa --to r1
t_check "bundles: a corrupt bundle is refused with exit 4" eq "$RC" 4
t_check "bundles: the refusal names the altered file" contains "$ERR" "releases/r1: env: sha256"
t_check "bundles: after the refusal the same container runs" eq "$(svc_cid backend)" "$c3"
t_check "bundles: after the refusal extra still runs" test -n "$(svc_cid extra)"
t_check "bundles: after the refusal state.json says r3" eq "$(state_release)" r3

# The registry stopped: a rollback to r2 works from the local images.
kill "$(cat "$SVC/docker/reg/pid")" 2>/dev/null
for _ in $(seq 1 100); do
	curl -s -m 1 "http://$REG/v2/" >/dev/null 2>&1 || break
	sleep 0.1
done
t_check "bundles: the registry is down" test -z "$(curl -s -m 2 "http://$REG/v2/" 2>/dev/null || true)"
run_deploy rollback qa --to r2
t_check "bundles: rollback with the registry down exits 0" eq "$RC" 0
t_check "bundles: with the registry down r2 runs (marker two) on P2" eq "$(marker) $(port_release "$P2")" "two r2"
# check: with the registry down, removing r1's image from the engine leaves
# r1's bundle with nothing to roll back to, and check says so.
run_deploy check qa
t_check "bundles: check passes while every pinned image is local" eq "$RC" 0
"$DOCKER" rmi "$(pinned r1)" >/dev/null 2>&1
run_deploy check qa
t_check "bundles: check fails for a bundle whose image is gone" eq "$RC" 1
t_check "bundles: check names r1's service and digest" contains "$ERR" "release r1, service backend: $(pinned r1) is neither on the target's engine nor in its registry"
run_deploy releases qa --json
t_check "bundles: releases lists r1 r2 r3" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r '[.releases[].release] | sort | join(" ")')" "r1 r2 r3"

t_done

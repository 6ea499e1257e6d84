#!/usr/bin/env bash
# The README's first command: ballast's main job, end to end, on this
# machine, with no server or cloud account.
#
# It installs what is missing, builds, starts a throwaway PostgreSQL and a
# local backup repository under a temp dir, and tells the audit_app story:
#
#   deploy v1.0.0 → nightly backup → restore drill → deploy v2.0.0 (healthy)
#   → deploy v3.0.0-broken (health fails: schema downgraded from the stored
#     down SQL, v2 back up and verified)
#   → deploy v4.0.0-broken with an irreversible migration (health fails:
#     the downgrade is refused, the database is restored from the
#     pre-deploy snapshot, v2 back up and verified)
#
# then prints a table of every step with its time and outcome, cleans up,
# and exits non-zero if any outcome was not the expected one.
#
# The containers run on real Docker when it can: as root with dockerd
# installed, the demo starts a private engine and a local registry under
# its temp dir (tests/services/docker.sh: its own socket, data root and
# bridge networks; never the host's default daemon or socket), builds the
# release images from busybox (examples/demo/docker: /cgi-bin/health
# reports the release, 500 for a "broken" one), pushes each release's tag
# to the registry and deploys them with `docker compose` (the v2 plugin
# scripts/deps.sh installs). PostgreSQL stays the throwaway host cluster.
# Otherwise (not root, no dockerd, the engine did not start) the stack's
# containers are played by the stand-in in examples/demo/ (a local process
# serving /health with the release it was started for), and the script
# says so and why. Either way the rest is real: PostgreSQL,
# pg_dump/pg_restore, the migrations of examples/audit_app, the compose
# file's lint, the backups and the HTTP health checks.
#
#   BALLAST_DEMO_RUNTIME=standin|docker  force one (docker and no engine:
#                                        exit 1 with the reason)
#   BALLAST_DEMO_DOCKER=DIR              use the running private engine
#                                        tests/services/docker.sh started in
#                                        DIR (the test suite's) instead of
#                                        starting one
#
#   scripts/demo.sh [--keep]    --keep leaves the temp dir and cluster running
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '  %s\n' "$*"; }

# BALLAST_DEMO_BUILD=DIR uses binaries already built there (the test suite
# does this) instead of installing dependencies and building ./build.
if [ -n "${BALLAST_DEMO_BUILD:-}" ]; then
	bold "== ballast demo: using the binaries in $BALLAST_DEMO_BUILD"
	export PATH=$BALLAST_DEMO_BUILD:$PATH
else
	bold "== ballast demo: setting up (dependencies, build)"
	scripts/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
	export PATH=$top/build:$PATH
fi
. tests/services/lib.sh

runtime=${BALLAST_DEMO_RUNTIME:-auto}
case $runtime in
auto | standin | docker) ;;
*) echo "demo: BALLAST_DEMO_RUNTIME must be standin or docker, not '$runtime'" >&2; exit 2 ;;
esac

DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ballast-demo-XXXXXX")
export DEMO_DIR
export DEMO_STATE_DIR=$DEMO_DIR/runtime
export DEMO_COMPOSE=$top/examples/demo/compose
export DEMO_HEALTH_PORT
DEMO_HEALTH_PORT=$(svc_free_port)
export BALLAST_CONFIG=$top/examples/audit_app/ballast.demo.json
unset BACKEND_IMAGE FRONTEND_IMAGE ETL_IMAGE
mkdir -p "$DEMO_DIR"/{app,backups,downloads,state,releases,logs}
engine_dir=      # the private engine's state dir (tests/services/docker.sh)
engine_started=0 # 1: this run started it, and cleanup stops it
compose_file=docker-compose.prod.yml

cleanup() {
	if [ "$keep" = 1 ]; then
		local stop="$DEMO_COMPOSE -f $DEMO_DIR/app/docker-compose.prod.yml down"
		[ "$runtime" != docker ] || stop="DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG docker compose -p audit_app down"
		[ "$engine_started" = 0 ] || stop="tests/services/docker.sh stop $engine_dir"
		echo "kept: $DEMO_DIR (stop with: tests/services/pg.sh stop $DEMO_DIR/pg; $stop)"
		return
	fi
	if [ "$engine_started" = 1 ]; then
		tests/services/docker.sh stop "$engine_dir" >/dev/null 2>&1 || true
	elif [ "$runtime" = docker ]; then
		# someone else's engine (the suite's): leave it as it was found
		"$DOCKER" compose -p audit_app down -v --remove-orphans >/dev/null 2>&1 || true
		"$DOCKER" rmi -f $("$DOCKER" images -q --filter "reference=$DEMO_NS/*" | sort -u) >/dev/null 2>&1 || true
	fi
	if [ "$runtime" = standin ]; then
		"$DEMO_COMPOSE" -f "$DEMO_DIR/app/docker-compose.prod.yml" -p audit_app down >/dev/null 2>&1 || true
	fi
	tests/services/pg.sh stop "$DEMO_DIR/pg" >/dev/null 2>&1 || true
	rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

# docker_engine: point DOCKER_HOST at a private engine (the one named by
# BALLAST_DEMO_DOCKER, else one started here), or set why_not and fail.
why_not=
docker_engine() {
	local log
	if [ -n "${BALLAST_DEMO_DOCKER:-}" ]; then
		engine_dir=$BALLAST_DEMO_DOCKER
		[ -r "$engine_dir/host" ] || { why_not="BALLAST_DEMO_DOCKER=$engine_dir is not the state dir of a private engine (no host file)"; return 1; }
	else
		[ "$(id -u)" = 0 ] || { why_not="not root (the private dockerd needs root)"; return 1; }
		command -v dockerd >/dev/null 2>&1 || { why_not="no dockerd (scripts/deps.sh installs docker.io)"; return 1; }
		engine_dir=$DEMO_DIR/docker
		log=$DEMO_DIR/logs/engine.log
		say "starting a private Docker engine and registry under $engine_dir"
		if ! tests/services/docker.sh start "$engine_dir" >"$log" 2>&1; then
			why_not="the private engine did not start: $(tail -n1 "$log")"
			return 1
		fi
		engine_started=1
	fi
	DOCKER=$(cat "$engine_dir/docker")
	export DOCKER_HOST DOCKER_CONFIG
	DOCKER_HOST=$(cat "$engine_dir/host")
	DOCKER_CONFIG=$(cat "$engine_dir/docker_config")
	docker_version=$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) ||
		{ why_not="the engine at $DOCKER_HOST does not answer"; return 1; }
	compose_version=$("$DOCKER" compose version --short 2>/dev/null) ||
		{ why_not="docker compose (the v2 plugin) is missing"; return 1; }
	DEMO_REGISTRY=$(cat "$engine_dir/registry")
	DEMO_BASE_IMAGE=$(cat "$engine_dir/base_image")
	DEMO_NS=$DEMO_REGISTRY/ballast-demo
}
if [ "$runtime" != standin ]; then
	if docker_engine; then
		runtime=docker
	elif [ "$runtime" = docker ]; then
		echo "demo: BALLAST_DEMO_RUNTIME=docker, but Docker cannot be used: $why_not" >&2
		runtime=none
		exit 1
	else
		runtime=standin
	fi
else
	why_not="BALLAST_DEMO_RUNTIME=standin"
fi

say "temp dir:    $DEMO_DIR"
tests/services/pg.sh start "$DEMO_DIR/pg" >/dev/null
pgci=$(cat "$DEMO_DIR/pg/conninfo")
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$pgci" "$@"; }
psql_admin -c "CREATE DATABASE audit_app"
export DEMO_PG_CONNINFO="host=$(cat "$DEMO_DIR/pg/host") port=$(cat "$DEMO_DIR/pg/port") user=postgres dbname=audit_app"
psql_app() { psql -X -q -At -v ON_ERROR_STOP=1 "$DEMO_PG_CONNINFO" "$@"; }
say "postgresql:  a throwaway cluster ($(psql_admin -At -c 'SHOW server_version'), $DEMO_DIR/pg)"
say "repository:  local, $DEMO_DIR/backups"

if [ "$runtime" = docker ]; then
	say "containers:  Docker $docker_version, compose $compose_version, private engine at $DOCKER_HOST$(
		[ "$engine_started" = 1 ] || echo " (BALLAST_DEMO_DOCKER)"), registry $DEMO_REGISTRY"
	# The target machine's app dir and the "checkout" the deploys are made
	# from: ballast.demo.json pointed at Docker (compose, docker, the demo
	# compose file, /cgi-bin/health, the volume backup's stop and restart:
	# `compose start` fails when the project has no container yet, as at
	# the first deploy's snapshot, where `restart` starts what `stop`
	# stopped and does nothing when nothing ran).
	compose_file=docker-compose.demo.yml
	DEMO_HEALTH_URL=http://127.0.0.1:$DEMO_HEALTH_PORT/cgi-bin/health
	mkdir -p "$DEMO_DIR/checkout"
	jq --arg d "$DOCKER" --arg f "$compose_file" '
		[$d, "compose", "-f", "${DEMO_DIR}/app/" + $f, "--env-file", "${DEMO_DIR}/app/.env.prod", "-p", "audit_app"] as $dc
		| .volumes[0].before = $dc + ["stop"] | .volumes[0].after = $dc + ["restart"]
		| .environments.prod.compose_command = [$d, "compose"]
		| .environments.prod.docker_command = [$d]
		| .environments.prod.compose_file = $f
		| .environments.prod.health[0].url = "http://127.0.0.1:${DEMO_HEALTH_PORT}/cgi-bin/health"' \
		examples/audit_app/ballast.demo.json > "$DEMO_DIR/checkout/ballast.json"
	cp examples/demo/docker/docker-compose.yml "$DEMO_DIR/checkout/$compose_file"
	cp "$DEMO_DIR/checkout/ballast.json" "$DEMO_DIR/checkout/$compose_file" "$DEMO_DIR/app/"
	export BALLAST_CONFIG=$DEMO_DIR/checkout/ballast.json
	{ sed "s|acme|$DEMO_NS|" examples/audit_app/.env.prod.example; echo "DEMO_HEALTH_PORT=$DEMO_HEALTH_PORT"; } > "$DEMO_DIR/app/.env.prod"
else
	say "containers:  NOT Docker ($why_not): the stand-in examples/demo/compose runs examples/demo/app.py on 127.0.0.1:$DEMO_HEALTH_PORT"
	DEMO_HEALTH_URL=http://127.0.0.1:$DEMO_HEALTH_PORT/health
	# The target machine's app dir: compose file, env file, ballast.json.
	cp examples/audit_app/docker-compose.prod.yml "$DEMO_DIR/app/"
	cp examples/audit_app/ballast.demo.json "$DEMO_DIR/app/ballast.json"
	{ cat examples/audit_app/.env.prod.example; echo "DEMO_HEALTH_PORT=$DEMO_HEALTH_PORT"; } > "$DEMO_DIR/app/.env.prod"
fi
chmod 600 "$DEMO_DIR/app/.env.prod"
echo "report,2026-11-01" > "$DEMO_DIR/downloads/report-2026-11.csv"

# Each release ships the migrations it knows (what its image would carry).
# v4 adds the example's irreversible actor de-duplication, numbered after
# v3's migrations so it is the newest one.
m=examples/audit_app/migrations
rel() { mkdir -p "$DEMO_DIR/releases/$1"; shift; }
add() { local r=$1; shift; for f in "$@"; do cp "$m/$f" "$DEMO_DIR/releases/$r/"; done; }
v1=(20261101090000_actors.up.sql 20261101090000_actors.down.sql
    20261101090100_events.up.sql 20261101090100_events.down.sql)
v2=("${v1[@]}" 20261108120000_retention_partitions.up.sql 20261108120000_retention_partitions.down.sql)
v3=("${v2[@]}" 20261115100000_actors_name_search.up.sql 20261115100000_actors_name_search.down.sql)
releases=(v1.0.0 v2.0.0 v3.0.0-broken v4.0.0-broken)
for r in "${releases[@]}"; do rel "$r"; done
add v1.0.0 "${v1[@]}"
add v2.0.0 "${v2[@]}"
add v3.0.0-broken "${v3[@]}"
add v4.0.0-broken "${v3[@]}"
cp "$m/20261105080000_actors_dedupe.up.sql" "$DEMO_DIR/releases/v4.0.0-broken/20261120090000_actors_dedupe.up.sql"

# ---------------------------------------------------------------- helpers
steps=()
failed=0
now_ms() { date +%s%3N; }

# step NAME EXPECTED_EXIT CMD...: run, time, log; record the outcome.
step() {
	local name=$1 want=$2; shift 2
	local log=$DEMO_DIR/logs/$(printf '%02d' "${#steps[@]}").log t0 t1 rc
	bold "== $name"
	say "\$ ${*/#$top\//}"
	t0=$(now_ms)
	set +e
	"$@" >"$log" 2>&1
	rc=$?
	set -e
	t1=$(now_ms)
	sed -e 's/^/    /' "$log" | grep -v '^    demo-compose:' | tail -n 12
	step_ms=$((t1 - t0))
	step_rc=$rc
	step_log=$log
	if [ "$rc" != "$want" ]; then
		say "UNEXPECTED: exit $rc, expected $want"
		record "$name" "$step_ms" "exit $rc (expected $want)" 0
		return 1
	fi
	return 0
}

# record NAME MS OUTCOME OK
record() {
	steps+=("$1|$2|$3|$4")
	[ "$4" = 1 ] || failed=1
}

# check WHAT ACTUAL EXPECTED: compare and print.
check() {
	if [ "$2" = "$3" ]; then
		say "check: $1 = $2"
		return 0
	fi
	say "CHECK FAILED: $1 = $2, expected $3"
	return 1
}

health_release() {
	python3 - "$DEMO_HEALTH_URL" <<'PY'
import json, sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=3)
    print(json.loads(r.read()).get("release", "?"))
except urllib.error.HTTPError as e:
    print("http-%d" % e.code)
except Exception:
    print("down")
PY
}
schema_version() { psql_app -c "SELECT coalesce(max(version), 0) FROM ballast_migrations WHERE NOT dirty"; }
actors() { psql_app -c "SELECT count(*) FROM actors"; }
# The result is the first word of deploy's last line ("deployed: ...") or
# of its error line ("ballast-deploy: error: rolled-back: ...").
result_of() {
	{ grep -Eo '(^|error: )(deployed|rolled-back-with-restore|rolled-back|failed-needs-attention|aborted):' "$1" || true; } |
		tail -1 | sed -e 's/^error: //' -e 's/:$//'
}

deploy() { # RELEASE EXPECTED_EXIT EXPECTED_RESULT EXPECTED_HEALTH EXPECTED_SCHEMA EXPECTED_ACTORS
	local r=$1 ok=1 res
	step "deploy $r" "$2" ballast-deploy -v deploy prod --release "$r" \
		--migrations "$DEMO_DIR/releases/$r" || { return 0; }
	res=$(result_of "$step_log")
	check "result" "$res" "$3" || ok=0
	check "release answering /health" "$(health_release)" "$4" || ok=0
	check "schema version" "$(schema_version)" "$5" || ok=0
	check "actors rows" "$(actors)" "$6" || ok=0
	local img=
	if [ "$runtime" = docker ]; then
		img=$(container_releases)
		check "release of each running container's image (docker inspect)" "$img" "$(printf 'backend=%s frontend=%s etl=%s' "$4" "$4" "$4")" || ok=0
		img="; containers ${img%% *}"
	fi
	record "deploy $r" "$step_ms" "$res; health $(health_release); schema $(schema_version)$img" "$ok"
}

# Docker only. build_images: one image per release FROM the engine's
# busybox base, tagged for the three repositories of ballast.json's
# "images" and pushed to the local registry, then removed from the engine
# so that each deploy's compose pull fetches it. The image ids go to
# $DEMO_DIR/images/<id> (the release), for container_releases.
build_images() {
	local r repo id
	mkdir -p "$DEMO_DIR/images"
	for r in "${releases[@]}"; do
		DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$DEMO_BASE_IMAGE" --build-arg "RELEASE=$r" \
			-t "$DEMO_NS/audit-app-backend:$r" examples/demo/docker >/dev/null || return 1
		id=$("$DOCKER" image inspect --format '{{.Id}}' "$DEMO_NS/audit-app-backend:$r") || return 1
		echo "$r" > "$DEMO_DIR/images/${id#sha256:}"
		for repo in backend frontend etl; do
			[ "$repo" = backend ] || "$DOCKER" tag "$DEMO_NS/audit-app-backend:$r" "$DEMO_NS/audit-app-$repo:$r" || return 1
			"$DOCKER" push -q "$DEMO_NS/audit-app-$repo:$r" >/dev/null || return 1
		done
		echo "built and pushed $DEMO_NS/audit-app-{backend,frontend,etl}:$r (image ${id:7:12})"
	done
	for r in "${releases[@]}"; do
		for repo in backend frontend etl; do "$DOCKER" rmi "$DEMO_NS/audit-app-$repo:$r" >/dev/null || return 1; done
	done
}
# The tags the registry holds for each repository, "backend=4 frontend=4 etl=4".
registry_tags() {
	local repo
	for repo in backend frontend etl; do
		printf '%s=%s ' "$repo" "$(curl -s -m 5 "http://$DEMO_REGISTRY/v2/ballast-demo/audit-app-$repo/tags/list" | jq '.tags | length')"
	done | sed 's/ $//'
}
# The services of the project with a running container, "backend,etl,frontend".
running_services() {
	"$DOCKER" ps --filter label=com.docker.compose.project=audit_app \
		--format '{{.Label "com.docker.compose.service"}}' | sort | paste -sd,
}
# Each running container's id and start time, one a line.
started_at() {
	local c
	for c in $("$DOCKER" ps -q --filter label=com.docker.compose.project=audit_app); do
		"$DOCKER" inspect --format '{{.Id}} {{.State.StartedAt}}' "$c"
	done | sort
}
# The release of the image each running service's container runs, by the
# image id docker inspect gives: "backend=v2.0.0 frontend=v2.0.0 etl=v2.0.0".
container_releases() {
	local svc c id
	for svc in backend frontend etl; do
		c=$("$DOCKER" ps -q --filter label=com.docker.compose.project=audit_app --filter "label=com.docker.compose.service=$svc" | head -n1)
		id=$([ -n "$c" ] && "$DOCKER" inspect --format '{{.Image}}' "$c")
		printf '%s=%s ' "$svc" "$(cat "$DEMO_DIR/images/${id#sha256:}" 2>/dev/null || echo none)"
	done | sed 's/ $//'
}

# ---------------------------------------------------------------- story
story() {
# Only init makes a repository: a backup disk that is not mounted is never
# filled by a run that created one.
step "initialise the backup repository" 0 ballast-backup init \
	&& record "repository init" "$step_ms" "$(tail -n1 "$step_log" | grep -o 'id [0-9a-f]*')" 1
step "lint the prod compose file (hardening rules)" 0 ballast-deploy lint prod \
	&& record "lint $compose_file" "$step_ms" "clean" 1
if [ "$runtime" = docker ]; then
	if step "build the release images, push them to the local registry" 0 build_images; then
		tags=$(registry_tags)
		check "tags in the registry" "$tags" "backend=4 frontend=4 etl=4" &&
			record "build + push images" "$step_ms" "$tags" 1 ||
			record "build + push images" "$step_ms" "$tags" 0
	fi
	[ "$failed" = 0 ] || { summary; exit 1; }
fi

bold "-- first release: v1.0.0 creates actors and events"
deploy v1.0.0 0 deployed v1.0.0 20261101090100 1
[ "$failed" = 0 ] || { summary; exit 1; }
psql_app <<'SQL' || record "seed data" 0 "could not insert" 0
INSERT INTO actors (kind, external_id, display_name) VALUES
  ('user', 'alice', 'Alice'), ('user', 'ALICE', 'Alice (SSO)'), ('user', 'bob', 'Bob'),
  ('service', 'etl', 'ETL worker');
INSERT INTO events (actor_id, action, object_type, object_id, payload, occurred_at)
SELECT 1 + (g % 5), (ARRAY['login','export','delete','update'])[1 + g % 4], 'report', g::text,
       jsonb_build_object('n', g), timestamptz '2026-11-01' + g * interval '7 minutes'
FROM generate_series(1, 2000) g;
SQL
say "seeded: $(actors) actors (alice and ALICE differ only in case), 2000 events"

bold "-- the nightly job"
[ "$runtime" = standin ] || started_before=$(started_at)
if step "nightly backup (database + downloads volume)" 0 ballast-backup -v --json run --label reason=nightly; then
	id=$(grep -o '"backup_id": *"[^"]*"' "$step_log" | tail -1 | sed 's/.*"\([^"]*\)"$/\1/')
	ok=$([ -n "$id" ] && echo 1 || echo 0)
	extra=
	if [ "$runtime" = docker ]; then
		# the volume's before and after commands: every container was
		# stopped and started again (a new start time), none left stopped
		check "services running after the backup" "$(running_services)" "backend,etl,frontend" || ok=0
		check "containers started again after the volume snapshot" \
			"$(comm -13 <(printf '%s\n' "$started_before") <(started_at) | wc -l)" 3 || ok=0
		extra="; 3 containers stopped and started around the volume snapshot"
	fi
	record "nightly backup" "$step_ms" "backup ${id:-?}$extra" "$ok"
fi
if step "restore drill of the latest backup" 0 ballast-backup --json drill --latest; then
	record "restore drill" "$step_ms" "passed: every table's rows match" 1
fi

bold "-- v2.0.0 adds retention partitions: a healthy deploy"
deploy v2.0.0 0 deployed v2.0.0 20261108120000 5

bold "-- v3.0.0-broken adds a search index, and its health check fails"
deploy v3.0.0-broken 1 rolled-back v2.0.0 20261108120000 5

bold "-- v4.0.0-broken de-duplicates actors (irreversible), and its health check fails"
deploy v4.0.0-broken 1 rolled-back-with-restore v2.0.0 20261108120000 5

if step "deploy history" 0 ballast-deploy history prod; then
	record "history" "$step_ms" "$(grep -c . "$step_log") lines" 1
fi

summary
[ "$failed" = 0 ] || exit 1
}

summary() {
echo
bold "== summary"
printf '  %-32s %8s  %-6s %s\n' "step" "time" "result" "outcome"
for s in "${steps[@]}"; do
	IFS='|' read -r name ms outcome ok <<<"$s"
	printf '  %-32s %7ss  %-6s %s\n' "$name" "$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')" \
		"$([ "$ok" = 1 ] && echo ok || echo FAILED)" "$outcome"
done
printf '  %-32s %7ss\n' "total" "$(awk -v m="$(( $(now_ms) - start_ms ))" 'BEGIN { printf "%.1f", m / 1000 }')"
echo
if [ "$failed" = 0 ]; then
	bold "every step ended as expected: the broken releases were rolled back, schema and data included."
else
	bold "some steps did not end as expected (logs: $DEMO_DIR/logs; rerun with --keep to inspect)"
fi
}

start_ms=$(now_ms)
story

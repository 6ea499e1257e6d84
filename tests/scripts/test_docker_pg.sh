#!/usr/bin/env bash
# services: docker
# ballast-backup against PostgreSQL 15 in a real container that publishes
# no port (tests/data/docker-pg, built here from Debian's packages), in a
# compose v2 project with its data in the named volume postgres_data:
#   - "container": run (row counts exact and equal to psql's), a swap
#     restore after rows changed (per-table row hashes back), a drill,
#     check naming the container and its address, a stopped or missing
#     container (one line naming it, exit 1), the password never on a
#     command line, a dump interrupted while pg_dump waits for a lock
#     (no pg_dump left in the container, nor its session on the server);
#   - the volume postgres_data snapshotted with the service stopped before
#     and started after, a table dropped, restore --volume: every row back
#     and the service running.
. "$(dirname "$0")/lib.sh"

SVC=${BALLAST_TEST_SVC:?}
BB=$B/ballast-backup
DOCKER=$(cat "$SVC/docker/docker")
export DOCKER_HOST DOCKER_CONFIG POSTGRES_PASSWORD
DOCKER_HOST=$(cat "$SVC/docker/host")
DOCKER_CONFIG=$(cat "$SVC/docker/docker_config")
REG=$(cat "$SVC/docker/registry")
BASE=$(cat "$SVC/docker/base_image")
POSTGRES_PASSWORD=s3cr3t-pg-in-docker-8812
PROJECT=btpg
CT=$PROJECT-postgres-1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-docker-pg-XXXXXX")
chmod 755 "$WORK"
trap 'kill $SPY 2>/dev/null; rm -rf "$WORK"' EXIT
SPY=

die() { echo "test_docker_pg: $*" >&2; exit 1; }

# ballast runs `docker` from PATH: the private engine's client
mkdir -p "$WORK/bin"
ln -s "$DOCKER" "$WORK/bin/docker"
PATH=$WORK/bin:$PATH

IMAGE=$REG/t/postgres:15
"$S/tests/data/docker-pg/build.sh" "$BASE" "$IMAGE" >"$WORK/build.log" 2>&1 ||
	{ cat "$WORK/build.log" >&2; die "building the postgres image failed"; }
"$DOCKER" rmi "$IMAGE" >/dev/null 2>&1 || true

APP=$WORK/app
mkdir -p "$APP"
cat > "$APP/docker-compose.yml" <<'YML'
services:
  postgres:
    image: ${PG_IMAGE}
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_DB: audit_app
    volumes:
      - postgres_data:/var/lib/postgresql/data
volumes:
  postgres_data:
YML
printf 'PG_IMAGE=%s\n' "$IMAGE" > "$APP/.env"
compose() { "$DOCKER" compose --project-directory "$APP" -p "$PROJECT" "$@"; }

psql_in() { "$DOCKER" exec -i "$CT" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d audit_app "$@"; }
wait_ready() {
	for _ in $(seq 1 300); do
		"$DOCKER" exec "$CT" pg_isready -q -h 127.0.0.1 -d audit_app >/dev/null 2>&1 &&
			psql_in -Atc 'select 1' >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "postgres in $CT did not become ready"
}
TABLES="public.accounts public.events public.empty_one audit.entries"
# One psql for every table (each docker exec costs a process in the
# container): "schema.table=" and its row count, and with hashes the md5 of
# its rows in primary-key order.
per_table() {
	local t sql=
	for t in $TABLES; do
		[ -z "$sql" ] || sql="$sql UNION ALL "
		sql="$sql(SELECT '$t=' || $1 FROM $t t)"
	done
	psql_in -Atc "$sql"
}
hashes() { per_table "count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '-')"; }
counts() { per_table "count(*)"; }

compose up -d >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "compose up failed"; }
wait_ready
t_check "the service publishes no port" eq "$("$DOCKER" inspect --format '{{json .NetworkSettings.Ports}}' "$CT")" '{"5432/tcp":null}'

psql_in <<'SQL' || die "loading the tables failed"
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
INSERT INTO accounts SELECT g, 'acct-' || g, g * 1.25 FROM generate_series(1, 1500) g;
CREATE TABLE events (id bigint PRIMARY KEY, account int REFERENCES accounts, kind text, at timestamptz);
INSERT INTO events SELECT g, 1 + g % 1500, CASE WHEN g % 3 = 0 THEN 'debit' ELSE 'credit' END,
  timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 7000) g;
CREATE TABLE empty_one (id int PRIMARY KEY);
CREATE SCHEMA audit;
CREATE TABLE audit.entries (id int PRIMARY KEY, note text);
INSERT INTO audit.entries SELECT g, repeat('x', g % 40) FROM generate_series(1, 333) g;
SQL
BEFORE=$(hashes)

CFG=$WORK/ballast.json
cat > "$CFG" <<JSON
{ "project": "dpg", "state_dir": "$WORK/state",
  "repository": { "type": "local", "path": "$WORK/repo" },
  "databases": [ { "name": "app",
                   "conninfo": "postgresql://postgres@127.0.0.1:5432/audit_app",
                   "password_env": "POSTGRES_PASSWORD",
                   "container": "$CT" } ] }
JSON
bb() { "$BB" --config "$CFG" "$@"; }

# Every command line on the machine while a command runs: the password
# must appear on none of them.
spy_start() {
	( while :; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' '; echo; sleep 0.05; done ) >"$WORK/cmdlines" &
	SPY=$!
}
spy_stop() {
	kill "$SPY" 2>/dev/null; wait "$SPY" 2>/dev/null; SPY=
	t_check "$1: the password on no command line" lacks "$(cat "$WORK/cmdlines")" "$POSTGRES_PASSWORD"
	t_check "$1: the spy saw the docker exec" contains "$(cat "$WORK/cmdlines")" "exec -i -e PGPASSWORD $CT"
}

t_run 0 bb init

# ---- check: names the container and the address it reached
t_run 0 bb check
ADDR=$("$DOCKER" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$CT")
t_check "check: the database line" contains "$t_out" "ok     database app"
t_check "check names the container and its address" contains "$t_out" "in container $CT at $ADDR"
t_check "check names the server version" contains "$t_out" "server 15."
t_check "check: the password not printed" lacks "$t_out$t_err" "$POSTGRES_PASSWORD"

# ---- run: exact counts, equal to psql's
spy_start
t_run 0 bb run
spy_stop run
t_check "run: the password not printed" lacks "$t_out$t_err" "$POSTGRES_PASSWORD"
ID1=$(bb list --json | jq -r 'select(.event == "result") | .backups[-1].id')
[ -n "$ID1" ] && [ "$ID1" != null ] || die "no backup listed after run: $(bb list --json)"
MAN=$(bb show "$ID1" --json | jq -c 'select(.event == "result")')
db_item() { printf '%s' "$MAN" | jq -c '[.. | objects | select(.type? == "db" and .name? == "app")][0]'; }
ITEM=$(db_item)
t_check "run: the dump tool ran in the container (its version recorded)" contains "$(printf '%s' "$ITEM" | jq -r .pg_dump_version)" "pg_dump (PostgreSQL) 15."
t_check "run: the server version" starts "$(printf '%s' "$ITEM" | jq -r .server_version)" "15."
MROWS=$(for t in $TABLES; do
	printf '%s=%s\n' "$t" "$(printf '%s' "$ITEM" | jq -r --arg s "${t%%.*}" --arg n "${t#*.}" \
		'.tables[] | select(.schema == $s and .name == $n) | .rows')"
done)
t_check "run: manifest row counts equal psql's" eq "$MROWS" "$(counts)"
t_check "run: the counts are the loaded ones" eq "$MROWS" "$(printf 'public.accounts=1500\npublic.events=7000\npublic.empty_one=0\naudit.entries=333')"
t_check "run: counts are exact" eq "$(printf '%s' "$ITEM" | jq -r .row_counts)" exact

# ---- swap restore after rows changed: every table's rows back
psql_in <<'SQL' || die "changing rows failed"
DELETE FROM events WHERE id % 7 = 0;
UPDATE accounts SET balance = 0 WHERE id <= 100;
INSERT INTO empty_one VALUES (1), (2);
TRUNCATE audit.entries;
SQL
t_check "the changes took" ne "$(hashes)" "$BEFORE"
spy_start
t_run 0 bb restore "$ID1" --db app --clean --yes --no-keep
spy_stop restore
t_check "restore: the password not printed" lacks "$t_out$t_err" "$POSTGRES_PASSWORD"
t_check "restore: every table's rows equal the backup's" eq "$(hashes)" "$BEFORE"
t_check "restore: no scratch or kept database left" eq \
	"$(psql_in -Atc "select count(*) from pg_database where datname like 'audit_app\_\_ballast%'")" 0

# ---- a drill: a scratch database on the container's server, counted
t_run 0 bb drill "$ID1" --json
t_check "drill passes" eq "$(printf '%s\n' "$t_out" | jq -r 'select(.event == "result") | [.. | objects | select(has("tables_checked"))][0].result')" passed
t_check "drill: its scratch database is gone" eq \
	"$(psql_in -Atc "select count(*) from pg_database where datname like 'ballast\_drill\_%'")" 0

# ---- an interrupted dump leaves no pg_dump behind in the container. A
# session holds accounts in ACCESS EXCLUSIVE, so pg_dump waits for its
# share lock; then ballast gets SIGTERM. Killing the docker exec client
# does not stop what it started in the container (the engine sends it no
# signal): ballast must end pg_dump's session itself.
lock_waiters() {
	psql_in -Atc "select count(*) from pg_stat_activity where wait_event_type = 'Lock'
		and query like 'LOCK TABLE%'"
}
dumps_in_container() {
	"$DOCKER" exec "$CT" sh -c 'cat /proc/[0-9]*/comm 2>/dev/null' | grep -c '^pg_dump$'
}
printf 'BEGIN;\nLOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(300);\n' |
	psql_in >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 1 300); do
	[ "$(psql_in -Atc "select count(*) from pg_locks l join pg_class c on c.oid = l.relation
		where c.relname = 'accounts' and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ] && break
	sleep 0.2
done
# not through bb(): $! must be ballast's own pid, not a subshell's
"$BB" --config "$CFG" run --only db:app >"$WORK/held.out" 2>"$WORK/held.err" &
BPID=$!
for _ in $(seq 1 300); do
	[ "$(lock_waiters)" = 1 ] && break
	sleep 0.2
done
t_check "held: pg_dump waits for the lock in the container" eq "$(lock_waiters)" 1
t_check "held: its process runs in the container" eq "$(dumps_in_container)" 1
kill -TERM "$BPID"
wait "$BPID"
t_check "held: the interrupted run fails" ne "$?" 0
ERR=$(cat "$WORK/held.err")
t_check "held: the run says it was interrupted" contains "$ERR" "interrupted by signal 15"
t_check "held: it says it ended the session in the container" contains "$ERR" \
	"pg_dump ran on in container $CT after its docker exec was stopped: its session was ended"
for _ in $(seq 1 100); do
	[ "$(lock_waiters)" = 0 ] && [ "$(dumps_in_container)" = 0 ] && break
	sleep 0.2
done
t_check "held: no pg_dump session left waiting on the server" eq "$(lock_waiters)" 0
t_check "held: no pg_dump process left in the container" eq "$(dumps_in_container)" 0
psql_in -Atc "select pg_terminate_backend(pid) from pg_stat_activity
	where query like '%pg_sleep(300)%' and pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null || true
ERR=

# ---- --jobs 2 cannot hand pg_restore in the container a file of this host
t_run 2 bb restore "$ID1" --db app --clean --yes --no-keep --jobs 2
t_check "--jobs 2 refused naming the container" contains "$t_err" "container $CT"

# ---- a stopped container: one line naming it, exit 1
compose stop postgres >/dev/null 2>&1 || die "compose stop failed"
t_run 1 bb run --only db:app
t_check "run with the container stopped: one line" eq "$(printf '%s\n' "$t_err" | grep -c .)" 1
t_check "that line names the container" contains "$t_err" "container $CT is not running"
t_run 1 bb check
t_check "check with the container stopped names it" contains "$t_out" "container $CT is not running"
compose start postgres >/dev/null 2>&1 || die "compose start failed"
wait_ready

# ---- a container that does not exist: the same, naming it
sed "s/\"$CT\"/\"$PROJECT-nosuch-1\"/" "$CFG" > "$WORK/nosuch.json"
t_run 1 "$BB" --config "$WORK/nosuch.json" run --only db:app
t_check "a missing container is named" contains "$t_err" "container $PROJECT-nosuch-1"
t_check "a missing container: one line" eq "$(printf '%s\n' "$t_err" | grep -c .)" 1

# ---- container refused with mode physical, naming the JSON path
jq '.databases[0].mode = "physical"' "$CFG" > "$WORK/physical.json"
t_run 2 "$BB" --config "$WORK/physical.json" check
t_check "container with mode physical: the JSON path" contains "$t_err" "databases[0].container"

# ---- the volume postgres_data, the service stopped before and started after
VOL=$("$DOCKER" volume inspect --format '{{.Mountpoint}}' "${PROJECT}_postgres_data")
t_check "the named volume lives under the private engine" starts "$(realpath "$VOL")" "$(realpath "$SVC/docker/data")/volumes/"
VCFG=$WORK/volume.json
dc='"docker", "compose", "--project-directory", "'"$APP"'", "-p", "'"$PROJECT"'"'
cat > "$VCFG" <<JSON
{ "project": "dpgvol", "state_dir": "$WORK/state-vol",
  "repository": { "type": "local", "path": "$WORK/repo" },
  "volumes": [ { "name": "postgres_data", "path": "$VOL",
                 "before": [$dc, "stop", "postgres"],
                 "after": [$dc, "start", "postgres"] } ] }
JSON
vb() { "$BB" --config "$VCFG" "$@"; }
t_run 0 vb init
wait_ready
SNAP=$(hashes)
t_check "the restored database holds the first backup's rows" eq "$SNAP" "$BEFORE"
t_run 0 vb run
t_check "volume run: the password not printed" lacks "$t_out$t_err" "$POSTGRES_PASSWORD"
t_check "the service runs again after the snapshot" eq "$("$DOCKER" inspect --format '{{.State.Status}}' "$CT")" running
wait_ready
VID=$(vb list --json | jq -r 'select(.event == "result") | .backups[-1].id')
t_check "the snapshot is listed" ne "${VID:-null}" null

psql_in -c 'DROP TABLE audit.entries' || die "drop failed"
psql_in -c 'DELETE FROM events WHERE account > 1000' -c 'DELETE FROM accounts WHERE id > 1000' ||
	die "delete failed"
t_check "the damage took" ne "$(hashes 2>/dev/null)" "$SNAP"
t_run 0 vb restore "$VID" --volume postgres_data --yes --no-keep
t_check "after the volume restore the service runs" eq "$("$DOCKER" inspect --format '{{.State.Status}}' "$CT")" running
wait_ready
t_check "volume restore: every row intact" eq "$(hashes)" "$SNAP"
t_check "the data directory still belongs to postgres" eq "$(stat -c '%u %a' "$VOL")" "999 700"

# the container's database is backed up again through the restored volume
t_run 0 bb run --only db:app
t_check "a run after the volume restore" eq "$t_rc" 0

compose down -v >/dev/null 2>&1 || true
t_done

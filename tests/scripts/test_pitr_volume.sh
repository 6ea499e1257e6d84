#!/usr/bin/env bash
# services: docker
# ballast-backup restore --pitr --docker-volume NAME against the suite's
# private Docker Engine, whose data root is 0710 root:root as on any host,
# and a real PostgreSQL primary on the host archiving through wal-push: a
# base backup, rows, a restore point, more rows. The volume's _data holds
# another cluster owned by the test cluster's (non-root) owner, as the
# stock image's uid 999 owns it, with a postmaster.pid naming a live pid
# (a container's, stale). Then:
#   - a running container using the volume: exit 2 naming it, _data
#     unchanged; a volume that does not exist, one with driver options,
#     one of another driver (a volume plugin speaking Docker's plugin
#     protocol, tests/data/volume-plugin.py): exit 2 naming it;
#   - --dry-run: exit 0, nothing changed;
#   - the container stopped: the restore to the restore point exits 0, the
#     recovery ran in the scratch directory (same file system: renamed),
#     _data holds exactly the rows committed before the point (a postgres
#     started on a copy of it), the previous data is _data.ballast-old-<id>,
#     --json names kept and undo, and the undo command puts it back;
#   - leftovers of an interrupted restore (a ballast-new sibling with the
#     marker and a live pid in its postmaster.pid, a ballast-tmp sibling, a
#     killed run's scratch directory) are removed by the next restore, which
#     recovers to the latest point with its scratch on another file system
#     (/dev/shm): the tree is copied, owners and modes kept.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: the Docker service and a volume's data root need root"; exit 77; }
SVC=${BALLAST_TEST_SVC:?}
DOCKER=$(cat "$SVC/docker/docker")
export DOCKER_HOST DOCKER_CONFIG
DOCKER_HOST=$(cat "$SVC/docker/host")
DOCKER_CONFIG=$(cat "$SVC/docker/docker_config")
BASE=$(cat "$SVC/docker/base_image")
VOL=btvol-pgdata
CT=btvol-db
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-pitrvol-XXXXXX")
chmod 755 "$WORK"
SHM=
PLUGIN_PID=
PLUGIN_SPEC=
PLUGIN_DIR_MADE=
PGDIR=$WORK/pg
cleanup() {
	"$DOCKER" rm -f "$CT" >/dev/null 2>&1
	"$DOCKER" volume rm -f "$VOL" btvol-opts btvol-plug >/dev/null 2>&1
	[ -z "$PLUGIN_PID" ] || kill "$PLUGIN_PID" 2>/dev/null
	[ -z "$PLUGIN_SPEC" ] || rm -f "$PLUGIN_SPEC"
	[ -z "$PLUGIN_DIR_MADE" ] || rmdir /run/docker/plugins /run/docker 2>/dev/null
	[ -n "${CHECK_PID:-}" ] && kill "$CHECK_PID" 2>/dev/null
	"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1
	[ -z "$SHM" ] || rm -rf "$SHM"
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "test_pitr_volume: $*" >&2; exit 1; }

# ballast runs `docker` from PATH, with DOCKER_HOST: the private engine's
mkdir -p "$WORK/bin"
ln -s "$DOCKER" "$WORK/bin/docker"
PATH=$WORK/bin:$PATH

PG_EXTRA_OPTS="-c archive_mode=on -c wal_level=replica" PG_INITDB_OPTS="--wal-segsize=1" \
	"$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || die "pg.sh start failed"
PGPORT=$(cat "$PGDIR/port")
BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres
OWNER=$(stat -c %U "$PGDIR/data")
OWNER_UID=$(id -u "$OWNER")
[ "$OWNER_UID" != 0 ] || die "the test cluster belongs to root"
as_owner() { setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@"; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

CFG=$WORK/ballast.json
mkdir -p "$WORK/repo" "$WORK/state" "$WORK/scratch"
. "$S/tests/scripts/pitr_lib.sh"
pitr_config "$CFG" vp
chmod 644 "$CFG"
"$B/ballast-backup" --config "$CFG" init >/dev/null || die "init failed"
# archive_command, wal-fetch and the restore's server run as the owner
chown -R "$OWNER" "$WORK/repo/vp" "$WORK/state"
BB() { "$B/ballast-backup" --config "$CFG" "$@"; }
PITR_WAL=$WORK/repo/vp/wal/app

q "ALTER SYSTEM SET archive_command = '$B/ballast-backup --config $CFG wal-push %p'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
q "CREATE TABLE t (id serial PRIMARY KEY, what text NOT NULL)" >/dev/null
q "INSERT INTO t (what) SELECT 'before-' || g FROM generate_series(1, 100) g" >/dev/null
t_check "the archiver sends a finished segment through wal-push" wait_archived "$(switch)"
as_owner "$B/ballast-backup" --config "$CFG" run >/dev/null 2>"$WORK/run.err"
t_check "a base backup" eq "$?" 0
q "INSERT INTO t (what) SELECT 'after-backup-' || g FROM generate_series(1, 50) g" >/dev/null
t_run 0 as_owner "$B/ballast-backup" --config "$CFG" restore-point --wait-archived 60s p1
q "INSERT INTO t (what) SELECT 'after-point-' || g FROM generate_series(1, 25) g" >/dev/null
t_check "the segment with the last rows is archived" wait_archived "$(switch)"

# ---- the volume: another cluster, owned like the stock image's uid 999 ----
"$DOCKER" volume create "$VOL" >/dev/null || die "docker volume create failed"
MP=$("$DOCKER" volume inspect --format '{{.Mountpoint}}' "$VOL")
VDIR=$(dirname "$MP")
ROOT=$(dirname "$(dirname "$VDIR")")
t_check "the engine's data root is closed to the volume's owner (0710 root:root)" eq "$(stat -c '%a %U' "$ROOT")" "710 root"
t_check "so the owner cannot reach _data in place" eq "$(as_owner test -x "$MP" && echo reachable || echo closed)" closed
cp -a "$PGDIR/data/." "$MP/"
echo "the data before the restore" > "$MP/ballast-test-old-data"
# a container's pid, which names a live process here (pid 1 always is)
printf '1\n%s\n' "/var/lib/postgresql/data" > "$MP/postmaster.pid"
chown -R "$OWNER:$(id -g "$OWNER")" "$MP"
chmod 700 "$MP"
tree_sum() { (cd "$1" && find . -printf '%p %U %m %s\n' | sort && find . -type f -exec md5sum {} + | sort) | md5sum; }
VOL_BEFORE=$(tree_sum "$MP")
volume_dir() { ls -A "$VDIR" | tr '\n' ' '; }

RESTORE=(--json restore --pitr --name p1 --docker-volume "$VOL" --scratch-dir "$WORK/scratch")

# ---- refusals ----
"$DOCKER" run -d --name "$CT" -v "$VOL:/var/lib/postgresql/data" "$BASE" sleep 600 >/dev/null 2>"$WORK/run.err" ||
	die "docker run failed"
t_run 2 BB "${RESTORE[@]}"
t_contains "$t_err" "docker volume $VOL is used by running container $CT" "a running container using the volume: exit 2 naming it"
t_check "refused: _data unchanged" eq "$(tree_sum "$MP")" "$VOL_BEFORE"
t_check "refused: nothing beside _data" eq "$(volume_dir)" "_data "
"$DOCKER" stop -t 0 "$CT" >/dev/null || die "docker stop failed"

t_run 2 BB restore --pitr --name p1 --docker-volume btvol-nosuch
t_contains "$t_err" "docker volume btvol-nosuch does not exist" "a volume that does not exist: exit 2 naming it"
t_run 2 BB restore --pitr --name p1 --docker-volume -x
t_contains "$t_err" "--docker-volume -x: expected a volume name" "a name that is not a volume name: exit 2"
"$DOCKER" volume create -o type=tmpfs -o device=tmpfs -o o=size=1m btvol-opts >/dev/null ||
	die "docker volume create btvol-opts failed"
t_run 2 BB restore --pitr --name p1 --docker-volume btvol-opts
t_contains "$t_err" "docker volume btvol-opts mounts a device or share" "a local volume with driver options: exit 2 naming it"
# another driver: a volume plugin on a socket of this run's own name in
# /run/docker/plugins, where Docker discovers plugins
PLUGIN=btvol-$$
[ -d /run/docker/plugins ] || { mkdir -p /run/docker/plugins && PLUGIN_DIR_MADE=1; }
PLUGIN_SPEC=/run/docker/plugins/$PLUGIN.sock
python3 "$S/tests/data/volume-plugin.py" "$PLUGIN_SPEC" "$WORK/plugin" >"$WORK/plugin.log" 2>&1 &
PLUGIN_PID=$!
for _ in $(seq 1 100); do "$DOCKER" volume create -d "$PLUGIN" btvol-plug >/dev/null 2>&1 && break; sleep 0.1; done
t_check "a volume of another driver exists" eq "$("$DOCKER" volume inspect --format '{{.Driver}}' btvol-plug 2>&1)" "$PLUGIN"
t_run 2 BB restore --pitr --name p1 --docker-volume btvol-plug
t_contains "$t_err" "docker volume btvol-plug has driver $PLUGIN: expected the local driver" "a volume of another driver: exit 2 naming it"
t_run 2 BB restore --pitr --name p1 --docker-volume "$VOL" --data-dir "$WORK/x"
t_contains "$t_err" "one of --data-dir DIR" "--docker-volume with --data-dir: exit 2"
t_run 2 BB restore --pitr --name p1 --data-dir "$WORK/x" --scratch-dir "$WORK/scratch"
t_contains "$t_err" "--scratch-dir goes with --docker-volume" "--scratch-dir without --docker-volume: exit 2"

# ---- --dry-run ----
t_run 0 BB restore --pitr --name p1 --docker-volume "$VOL" --scratch-dir "$WORK/scratch" --dry-run
t_contains "$t_out" "would restore base backup" "--dry-run: says what it would do"
t_contains "$t_out" "$MP, docker volume $VOL" "--dry-run: names the volume's directory"
t_check "--dry-run: _data unchanged" eq "$(tree_sum "$MP")" "$VOL_BEFORE"
t_check "--dry-run: nothing beside _data" eq "$(volume_dir)" "_data "
t_check "--dry-run: nothing in the scratch directory" eq "$(ls -A "$WORK/scratch")" ""

# ---- the restore to the restore point ----
t_run 0 BB "${RESTORE[@]}"
RES=$(printf '%s\n' "$t_out" | tail -n1)
ID=$(printf '%s' "$RES" | jq -r '.backup_id')
t_check "--json: the volume and its directory" eq "$(printf '%s' "$RES" | jq -r '"\(.docker_volume) \(.data_dir)"')" "$VOL $MP"
t_check "--json: kept names the previous data" eq "$(printf '%s' "$RES" | jq -r '.kept')" "$MP.ballast-old-$ID"
UNDO=$(printf '%s' "$RES" | jq -r '.undo')
t_check "--json: the undo command swaps back" contains "$UNDO" "mv $MP.ballast-old-$ID $MP"
t_contains "$t_out" "extracted into $WORK/scratch/ballast-restore-vp-app-" "the recovery ran in the scratch directory"
# Whether the scratch can be renamed into the volume's directory: an engine
# bind-mounts its data root onto itself (so it is another mount even on
# the same file system: EXDEV), and then the tree is copied.
mkdir "$WORK/scratch/probe"
if python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$WORK/scratch/probe" "$VDIR/probe" 2>/dev/null; then
	rmdir "$VDIR/probe"
	t_not_contains "$t_out$t_err" "copying the recovered data" "scratch on the volume's mount: the recovered tree is renamed, not copied"
else
	rmdir "$WORK/scratch/probe"
	echo "# the data root is a mount of its own here: the recovered tree is copied"
	t_contains "$t_out" "copying the recovered data" "scratch on another mount: the recovered tree is copied"
fi
t_check "the previous data is _data.ballast-old-<id>" eq "$(tree_sum "$MP.ballast-old-$ID")" "$VOL_BEFORE"
t_check "nothing else beside _data" eq "$(volume_dir)" "_data _data.ballast-old-$ID "
t_check "_data: the volume owner's, mode 700" eq "$(stat -c '%u %a' "$MP")" "$OWNER_UID 700"
t_check "_data: every file the volume owner's" eq "$(find "$MP" ! -uid "$OWNER_UID" | wc -l)" 0
t_check "_data: no marker, no postmaster.pid, no recovery.signal" eq "$(ls "$MP" | grep -c -e ballast-restore.incomplete -e postmaster.pid -e recovery.signal -e ballast-test-old-data)" 0
t_check "the scratch directory is removed" eq "$(ls -A "$WORK/scratch")" ""
t_check "no temporary postgres is left" eq "$(pgrep -fc -- "-D $WORK/scratch")" 0

# rows: a postgres on a copy of _data taken as root (socket only, archiving
# off: the copy's postgresql.auto.conf still names wal-push)
check_rows() { # DIR: "before|after-backup|after-point" row counts
	rm -rf "$WORK/check" "$WORK/checksock"
	cp -a "$1" "$WORK/check"
	mkdir -m 700 "$WORK/checksock"
	chown "$OWNER" "$WORK/check" "$WORK/checksock"
	as_owner "$BINDIR/pg_ctl" -D "$WORK/check" -l "$WORK/checksock/log" -w -s \
		-o "-c listen_addresses= -c unix_socket_directories=$WORK/checksock -c archive_mode=off -p 5432" start >/dev/null ||
		{ tail -5 "$WORK/checksock/log" >&2; return 1; }
	psql -X -At -h "$WORK/checksock" -p 5432 -U postgres -d postgres -c \
		"SELECT count(*) FILTER (WHERE what LIKE 'before-%') || '|' || count(*) FILTER (WHERE what LIKE 'after-backup-%') || '|' || count(*) FILTER (WHERE what LIKE 'after-point-%') FROM t"
	as_owner "$BINDIR/pg_ctl" -D "$WORK/check" -m fast -w -s stop >/dev/null
}
t_check "_data holds exactly the rows committed before the restore point" eq "$(check_rows "$MP")" "100|50|0"

t_run 0 sh -c "$UNDO"
t_check "undo: the previous data is _data again" eq "$(tree_sum "$MP")" "$VOL_BEFORE"
rm -rf "$MP.ballast-undone-$ID"

# ---- leftovers of interrupted restores, then a restore copied across file systems ----
mkdir -p "$MP.ballast-new-zzz" "$MP.ballast-tmp-zzz"
touch "$MP.ballast-new-zzz/ballast-restore.incomplete"
echo 1 > "$MP.ballast-new-zzz/postmaster.pid"
SHM=$(mktemp -d /dev/shm/ballast-pitrvol-XXXXXX)
chmod 755 "$SHM"
# a killed run leaves its lock file, no longer locked
mkdir -p "$SHM/ballast-restore-vp-app-killed/data"
touch "$SHM/ballast-restore-vp-app-killed/.ballast.lock"
if [ "$(stat -c %d "$SHM")" = "$(stat -c %d "$VDIR")" ]; then
	echo "# /dev/shm is on the volume's file system here: the copy is not exercised"
fi
"$DOCKER" start "$CT" >/dev/null || die "docker start failed"
t_run 2 BB restore --pitr --latest --timeline current --docker-volume "$VOL" --scratch-dir "$SHM"
t_contains "$t_err" "running container $CT" "the container started again: refused again"
"$DOCKER" stop -t 0 "$CT" >/dev/null || die "docker stop failed"
t_run 0 BB -v restore --pitr --latest --timeline current --docker-volume "$VOL" --scratch-dir "$SHM"
t_contains "$t_out" "database restored into $MP, docker volume $VOL from backup $ID" "the result names the volume"
t_contains "$t_err" "copying the recovered data" "scratch on another file system: the tree is copied"
t_contains "$t_err" "left by an interrupted restore" "the interrupted restore's sibling is removed"
t_contains "$t_err" "left by an interrupted drill or restore" "a killed run's scratch directory is removed"
t_check "the leftovers are gone, the previous data kept" eq "$(volume_dir)" "_data _data.ballast-old-$ID "
t_check "the scratch directories are removed" eq "$(ls -A "$SHM")" ""
t_check "copied: _data the volume owner's, mode 700" eq "$(stat -c '%u %a' "$MP")" "$OWNER_UID 700"
t_check "copied: every file the volume owner's" eq "$(find "$MP" ! -uid "$OWNER_UID" | wc -l)" 0
t_check "copied: no marker left" test ! -e "$MP/ballast-restore.incomplete"
t_check "_data holds every row of the timeline the base backup is on" eq "$(check_rows "$MP")" "100|50|25"
t_check "the kept data is the previous data" eq "$(tree_sum "$MP.ballast-old-$ID")" "$VOL_BEFORE"
t_done

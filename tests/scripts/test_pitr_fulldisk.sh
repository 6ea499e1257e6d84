#!/usr/bin/env bash
# services:
# The repository's disk full under the physical path (#20): a base backup
# and a wal-push into a repository on a small tmpfs (mounted here: root
# only, else exit 77, a skip) filled to the last byte. Each fails with exit
# 1 and one line saying the disk is full; nothing of it is listed or
# archived, no temporary object stays, the earlier base backup still
# verifies; with room again the same segment is archived and the next base
# backup succeeds.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "test_pitr_fulldisk: needs root (it mounts a tmpfs): skipped" >&2; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-pitr-fulldisk-XXXXXX")
chmod 755 "$WORK"
PGDIR=$WORK/pg
cleanup() {
	"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1
	mountpoint -q "$WORK/repo" && umount "$WORK/repo"
	rm -rf "$WORK"
}
trap cleanup EXIT

# archive_command false: the server keeps every finished segment (not
# archived yet) for the test's own wal-push
PG_EXTRA_OPTS="-c wal_level=replica -c archive_mode=on -c archive_command=false" PG_INITDB_OPTS="--wal-segsize=1" \
	"$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || { echo "pg.sh start failed" >&2; exit 1; }
PGPORT=$(cat "$PGDIR/port")
BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

mkdir -p "$WORK/repo" "$WORK/state"
mount -t tmpfs -o size=16m,mode=0755 tmpfs "$WORK/repo" || { echo "cannot mount a tmpfs" >&2; exit 1; }
CFG=$WORK/ballast.json
. "$S/tests/scripts/pitr_lib.sh"
pitr_config "$CFG" fd
BB() { "$B/ballast-backup" --config "$CFG" "$@"; }
BB init >/dev/null || { echo "init failed" >&2; exit 1; }
PITR_WAL=$WORK/repo/fd/wal/app
tmps() { find "$WORK/repo" -name '*.tmp-*' | wc -l; }
good() { BB --json list | tail -n1 | jq '[.backups[] | select(.status == "good")] | length'; }

q "CREATE TABLE t (id serial PRIMARY KEY, what text NOT NULL)" >/dev/null
q "INSERT INTO t (what) SELECT md5(g::text) FROM generate_series(1, 2000) g" >/dev/null
t_run 0 BB run
FIRST=$(BB --json list | tail -n1 | jq -r '.backups[0].id')
t_check "with room: one good base backup" eq "$(good)" 1

# the disk to its last byte
dd if=/dev/zero of="$WORK/repo/filler" bs=64k >/dev/null 2>&1
t_check "the repository's disk is full" eq "$(df --output=avail -B1 "$WORK/repo" | tail -n1 | tr -d ' ')" 0

t_run 1 BB run
t_contains "$t_err" "No space left on device" "a base backup into a full disk: exit 1 saying so"
t_check "one line of error" eq "$(printf '%s\n' "$t_err" | grep -c 'error')" 1
t_check "the failed base backup is not listed as good" eq "$(good)" 1
t_check "no temporary object stays" eq "$(tmps)" 0
t_run 0 BB verify "$FIRST"

q "INSERT INTO t (what) SELECT md5(g::text) FROM generate_series(1, 2000) g" >/dev/null
SEG=$(switch)
t_check "the finished segment is in pg_wal" test -f "$PGDIR/data/pg_wal/$SEG"
t_run 1 BB wal-push "$PGDIR/data/pg_wal/$SEG"
t_contains "$t_err" "No space left on device" "wal-push into a full disk: exit 1 (the archiver retries) saying so"
t_check "the segment is not archived" eq "$(archived | grep -cx "$SEG")" 0
t_check "no temporary object stays after wal-push" eq "$(tmps)" 0

rm -f "$WORK/repo/filler"
t_run 0 BB wal-push "$PGDIR/data/pg_wal/$SEG"
t_check "with room again the same segment is archived" eq "$(archived | grep -cx "$SEG")" 1
t_run 0 BB run
t_check "and the next base backup is good" eq "$(good)" 2
t_run 0 BB verify --all
t_done

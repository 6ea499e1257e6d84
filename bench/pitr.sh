#!/usr/bin/env bash
# bench/pitr.sh: ballast's physical backups and point-in-time restore against
# pgBackRest (Debian's 2.45) on the same PostgreSQL cluster, in one run.
#
#   bench/pitr.sh [--quick] [--rounds N] [--scale N] [--pgbr-server OPTS]
#                 [--load-seconds N] [--rate TPS] [--partial-interval DUR]
#                 [--out DIR] [--build DIR]
#
#   --quick    2 rounds, a tiny database and a 20 s load at 100 tps (a
#              smoke test; the figures mean little)
#   --rounds   rounds per case (default 3); in each round both tools run
#              once, in turn, the one going first alternating
#   --scale    pgbench scale of the database (default 20, about 300 MB;
#              --quick: 1, about 20 MB)
#   --pgbr-server OPTS  more server options for the pgBackRest copy's
#              start (e.g. "-c fsync=off", what ballast's temporary server
#              runs with before its one syncfs; a variant, not the default)
#   --load-seconds N, --rate TPS  the steady write load of the RPO case:
#              pgbench -c 2 -R TPS for N seconds (default 60 s at 200 tps)
#   --partial-interval DUR  wal-stream's wal_stream.partial_interval in
#              the RPO case (default 1s)
#   --out DIR  where the result file goes (default bench/results)
#   --build    the build directory holding ballast-backup (default ./build)
#
# Needs root (the cluster belongs to user postgres), PostgreSQL 15 and
# pgBackRest: `apt-get install pgbackrest` (the script installs nothing; a
# missing tool is exit 2). Not part of bench/run.sh nor of the test suite,
# because CI does not install pgBackRest.
#
# Setup: one throwaway cluster (tests/services/pg.sh, archive_mode=on) whose
# archive_command archives every WAL file to both, `ballast-backup wal-push`
# (local repository) then `pgbackrest archive-push`; a pgbench database
# (pgbench -i -s SCALE). Both tools compress with zstd level 3 on 2
# threads/processes (ballast compression.threads 2, pgBackRest
# process-max 2). Everything runs as postgres.
#
#   backup    RUNS base backups each, alternating: `ballast-backup run`
#             (pg_basebackup streamed through zstd) against `pgbackrest
#             backup --type=full`; wall time, peak RSS, size in the repository
#   restore   then WAL written after the last backups (inserts and
#             pg_switch_wal), a restore point (`ballast-backup restore-point`,
#             i.e. pg_create_restore_point), more WAL after it; RUNS rounds
#             of: ballast `restore --pitr --name POINT --data-dir NEW` end to
#             end (extract, pg_verifybackup, recovery with a temporary server
#             and wal-fetch, promote, shutdown, swap) against `pgbackrest
#             restore --type=name --target=POINT --target-action=promote`
#             then `pg_ctl -w start` on the copy, polling until
#             pg_is_in_recovery() is false, and `pg_ctl -m fast stop`.
#   rpo       `ballast-backup wal-stream` (partial_interval DUR) beside the
#             archiver while pgbench writes at a fixed rate; psql samples
#             every 0.1 s the server's WAL position (pg_current_wal_lsn) and
#             the position its walsender has sent to pg_receivewal
#             (pg_stat_replication.sent_lsn; pg_receivewal writes what it
#             receives into the spool at once, while the write_lsn it
#             reports lags by its replies). Per sample: the streaming lag is the
#             time until a later sample shows that position sent; the
#             repository lag the time until the first partial segment
#             commit that read the spool after that (wal-stream -vv logs
#             when each read its file and how long the commit took): an
#             upper bound, the WAL may have been in an earlier one.
#             Median and p95 of each, and of pg_stat_replication.write_lag.
#   latest    RUNS rounds of the restore to the end of the archive: ballast
#             `restore --pitr --latest` against `pgbackrest restore` (default
#             target: the end of the archive) + start until promoted + stop,
#             both on the original timeline (the restores to the point
#             above archived the timelines they started; the newest of
#             those branches before the load)
#
# The first round's restored clusters are started once more (untimed) and
# must hold every row written before the point and none after it. Prints
# medians and the ratios (pgBackRest / ballast: above 1, ballast is faster)
# and writes them to DIR/pitr-<UTC time>.md. No figure is asserted.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"

quick=0 out=$top/bench/results build=$top/build rounds=3 scale='' pgbr_server=''
load='' rate='' partial=1s
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 rounds=2 ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--build) build=${2:?--build needs a directory}; shift ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	--scale) scale=${2:?--scale needs a number}; shift ;;
	--pgbr-server) pgbr_server=${2?--pgbr-server needs server options}; shift ;;
	--load-seconds) load=${2:?--load-seconds needs a number}; shift ;;
	--rate) rate=${2:?--rate needs a number}; shift ;;
	--partial-interval) partial=${2:?--partial-interval needs a duration}; shift ;;
	-h|--help) sed -n '2,72p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument '$1' (expected --quick, --rounds N, --scale N, --pgbr-server OPTS, --load-seconds N, --rate TPS, --partial-interval DUR, --out DIR, --build DIR)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$scale" ] || { [ "$quick" = 1 ] && scale=1 || scale=20; }
[ -n "$load" ] || { [ "$quick" = 1 ] && load=20 || load=60; }
[ -n "$rate" ] || { [ "$quick" = 1 ] && rate=100 || rate=200; }
case $load in ''|*[!0-9]*|0) echo "bench: --load-seconds '$load' is not a positive number" >&2; exit 2 ;; esac
case $rate in ''|*[!0-9]*|0) echo "bench: --rate '$rate' is not a positive number" >&2; exit 2 ;; esac
case $rounds in ''|*[!0-9]*|0) echo "bench: --rounds '$rounds' is not a positive number" >&2; exit 2 ;; esac
case $scale in ''|*[!0-9]*|0) echo "bench: --scale '$scale' is not a positive number" >&2; exit 2 ;; esac
bin=$build/ballast-backup
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
# the archive_command runs it from the data directory
bin=$(cd "$build" && pwd)/ballast-backup
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the cluster belongs to user postgres)" >&2; exit 2; }
command -v pgbackrest >/dev/null || { echo "bench: pgbackrest not installed (apt-get install pgbackrest)" >&2; exit 2; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "bench: PostgreSQL 15 not installed (apt-get install postgresql-15)" >&2; exit 2; }
BINDIR=/usr/lib/postgresql/15/bin
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d /tmp/ballast-bench-pitr-XXXXXX)
chmod 755 "$work"
PGDIR=$work/pg
ws_pid=
cleanup() {
	local d
	[ -z "$ws_pid" ] || { kill "$ws_pid" 2>/dev/null; wait "$ws_pid" 2>/dev/null; }
	for d in "$work"/r/*/; do
		[ -f "$d/postmaster.pid" ] && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
	done
	PG_BINDIR=$BINDIR "$top/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
PG_BINDIR=$BINDIR PG_EXTRA_OPTS="-c archive_mode=on" "$top/tests/services/pg.sh" start "$PGDIR" >/dev/null
PORT=$(cat "$PGDIR/port")
PGU=(setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups --)
as_pg() { "${PGU[@]}" "$@"; }
q() { "$BINDIR/psql" -X -At -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PORT" -U postgres -d "${DB:-postgres}" -c "$1"; }
quiet() { "$@" >"$work/cmd.log" 2>&1 || { tail -n 20 "$work/cmd.log" >&2; echo "bench: failed: $*" >&2; exit 1; }; }
mkdir -p "$work/repo" "$work/state" "$work/pgbr" "$work/r" "$work/t"
chown postgres: "$work/repo" "$work/state" "$work/pgbr" "$work/r" "$work/t"

# ---- the two tools, same compression and parallelism
cat > "$work/ballast.json" <<JSON
{ "project": "bench", "state_dir": "$work/state",
  "repository": { "type": "local", "path": "$work/repo" },
  "compression": { "level": 3, "threads": 2 },
  "databases": [ { "name": "pg", "mode": "physical", "pg_bindir": "$BINDIR",
                   "conninfo": "host=$PGDIR port=$PORT user=postgres dbname=postgres",
                   "wal_stream": { "partial_interval": "$partial" } } ] }
JSON
cat > "$work/pgbackrest.conf" <<CONF
[global]
repo1-path=$work/pgbr/repo
repo1-retention-full=$((rounds + 1))
compress-type=zst
compress-level=3
process-max=2
start-fast=y
log-path=$work/pgbr/log
lock-path=$work/pgbr/lock
spool-path=$work/pgbr/spool
log-level-console=warn
log-level-file=off

[bench]
pg1-path=$PGDIR/data
pg1-socket-path=$PGDIR
pg1-port=$PORT
pg1-user=postgres
CONF
chmod 644 "$work/ballast.json" "$work/pgbackrest.conf"
BB() { as_pg "$bin" --config "$work/ballast.json" "$@"; }
PGBR() { as_pg pgbackrest --config="$work/pgbackrest.conf" --stanza=bench "$@"; }
quiet BB init
quiet PGBR stanza-create
q "ALTER SYSTEM SET archive_command = '$bin --config $work/ballast.json wal-push %p && pgbackrest --config=$work/pgbackrest.conf --stanza=bench archive-push %p'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
quiet PGBR check

echo "bench: pgbench -i -s $scale" >&2
q "CREATE DATABASE bench" >/dev/null
quiet "$BINDIR/pgbench" -i -q -s "$scale" -h "$PGDIR" -p "$PORT" -U postgres bench
DB=bench q "CREATE TABLE after_backup (id int PRIMARY KEY, pad text); CREATE TABLE after_point (id int PRIMARY KEY)" >/dev/null
dbsize=$(DB=bench q "SELECT pg_size_pretty(pg_database_size('bench'))")
clustersize=$(du -sh "$PGDIR/data" | cut -f1)

median() { bench_median "$@"; }
ratio() { awk -v p="$1" -v b="$2" 'BEGIN {printf "%.2fx", p / b}'; }
# wait_archived: until the archiver has done what is pending (both tools:
# one archive_command pushes to each)
wait_archived() {
	local seg
	seg=$(q "SELECT pg_walfile_name(pg_switch_wal())")
	for _ in $(seq 1 1200); do
		[ "$(q "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")" = t ] && return 0
		sleep 0.1
	done
	echo "bench: $seg was not archived in 120 s" >&2; exit 1
}
wait_archived

# ---- backups
declare -A T
T[bb.w]="" T[bb.m]="" T[pb.w]="" T[pb.m]=""
backup_ballast() {
	local w m
	read -r w m < <(bench_time "$work/t" bb "${PGU[@]}" "$bin" --config "$work/ballast.json" run) || exit 1
	T[bb.w]+=" $w"; T[bb.m]+=" $m"
}
backup_pgbr() {
	local w m
	read -r w m < <(bench_time "$work/t" pb "${PGU[@]}" pgbackrest --config="$work/pgbackrest.conf" --stanza=bench backup --type=full) || exit 1
	T[pb.w]+=" $w"; T[pb.m]+=" $m"
}
for i in $(seq 1 "$rounds"); do
	if [ $((i % 2)) = 1 ]; then backup_ballast; backup_pgbr; else backup_pgbr; backup_ballast; fi
	echo "bench: backup round $i: ballast${T[bb.w]} | pgbackrest${T[pb.w]}" >&2
done
bb_size=$(find "$work/repo/bench/backups" -name 'basebackup-pg.tar.zst*' -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2)
pb_size=$(PGBR info --output=json | jq '.[0].backup[-1].info.repository.delta')
pb_raw=$(PGBR info --output=json | jq '.[0].backup[-1].info.size')

# ---- WAL after the backups, the point, WAL after the point
if [ "$quick" = 1 ]; then rows=20000; else rows=400000; fi
lsn0=$(q "SELECT pg_current_wal_lsn()")
DB=bench q "INSERT INTO after_backup SELECT g, md5(g::text) || repeat('x', 100) FROM generate_series(1, $rows) g" >/dev/null
q "SELECT pg_switch_wal()" >/dev/null
DB=bench q "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 10 = 0" >/dev/null
point=bench-$(date -u +%Y%m%dT%H%M%SZ)
quiet BB restore-point --wait-archived 120s "$point"
DB=bench q "INSERT INTO after_point SELECT g FROM generate_series(1, $((rows / 4))) g" >/dev/null
wait_archived
# segments to replay past the backups (16 MiB each; every pg_switch_wal
# ends one early)
walsegs=$(q "SELECT floor(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') / 16777216) - floor(pg_wal_lsn_diff('$lsn0', '0/0') / 16777216)")
echo "bench: restore point $point, $walsegs WAL segments after the last base backup" >&2

# ---- restores
T[br.w]="" T[br.m]="" T[br.x]="" T[br.v]="" T[br.r]="" T[pr.w]="" T[pr.m]="" T[pr.s]="" T[pr.c]=""
ms() { date +%s%3N; }
restore_ballast() { # ROUND
	local w m
	read -r w m < <(bench_time "$work/t" "br.$1" "${PGU[@]}" "$bin" --config "$work/ballast.json" --json \
		restore --pitr --name "$point" --timeline current --data-dir "$work/r/ballast-$1") || exit 1
	T[br.w]+=" $w"; T[br.m]+=" $m"
	T[br.x]+=" $(sed -n 's/.*base backup extracted into .* (\([0-9]*\) ms).*/\1/p' "$work/t/out.br.$1" | tail -n 1)"
	T[br.v]+=" $(sed -n 's/.*pg_verifybackup passed (\([0-9]*\) ms).*/\1/p' "$work/t/out.br.$1" | tail -n 1)"
	T[br.r]+=" $(grep '"recovery_ms"' "$work/t/out.br.$1" | tail -n 1 | jq .recovery_ms)"
}
# A copy's server: its own socket, no TCP, no archiving (its
# postgresql.auto.conf holds the archive_command of the original, which
# would push its new timeline into both archives).
copy_opts() { echo "-c listen_addresses= -c port=5432 -c unix_socket_directories=$1 -c archive_mode=off"; }
# promote_copy DIR: start pgBackRest's restored copy, wait until it has
# recovered and promoted
promote_copy() {
	quiet as_pg "$BINDIR/pg_ctl" -D "$1" -l "$1.log" -w -t 3600 -o "$(copy_opts "$1.sock") $pgbr_server" start
	until [ "$("$BINDIR/psql" -X -At -h "$1.sock" -p 5432 -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
		sleep 0.05
	done
}
restore_pgbr() { # ROUND
	local d=$work/r/pgbr-$1 t0 t1 t2 t3 w m
	install -d -o postgres -g postgres -m 700 "$d" "$d.sock"
	t0=$(ms)
	read -r w m < <(bench_time "$work/t" "pr.$1" "${PGU[@]}" pgbackrest --config="$work/pgbackrest.conf" --stanza=bench \
		restore --pg1-path="$d" --type=name --target="$point" --target-action=promote) || exit 1
	t1=$(ms)
	promote_copy "$d"
	t2=$(ms)
	quiet as_pg "$BINDIR/pg_ctl" -D "$d" -m fast -w -t 3600 stop
	t3=$(ms)
	T[pr.w]+=" $(awk -v a="$t0" -v b="$t3" 'BEGIN {printf "%.2f", (b - a) / 1000}')"; T[pr.m]+=" $m"
	T[pr.s]+=" $((t1 - t0))"; T[pr.c]+=" $((t2 - t1))"
}
for i in $(seq 1 "$rounds"); do
	if [ $((i % 2)) = 1 ]; then restore_ballast "$i"; restore_pgbr "$i"; else restore_pgbr "$i"; restore_ballast "$i"; fi
	echo "bench: restore round $i: ballast${T[br.w]} | pgbackrest${T[pr.w]}" >&2
	# keep round 1's copies for the check below, drop the others (disk)
	[ "$i" = 1 ] || rm -rf "$work/r/ballast-$i"* "$work/r/pgbr-$i"
done

# ---- both copies reached the same point (untimed)
# copy_query DIR SQL: start a restored copy (again), print SQL's result in
# its bench database, stop it
copy_query() {
	local s=$1.chk out
	install -d -o postgres -g postgres -m 700 "$s"
	quiet as_pg "$BINDIR/pg_ctl" -D "$1" -l "$1.chk.log" -w -t 600 -o "$(copy_opts "$s")" start
	out=$("$BINDIR/psql" -X -At -h "$s" -p 5432 -U postgres -d bench -c "$2")
	quiet as_pg "$BINDIR/pg_ctl" -D "$1" -m fast -w stop
	echo "$out"
}
check_copy() { # DIR
	copy_query "$1" "SELECT (SELECT count(*) FROM after_backup) || ' ' || (SELECT count(*) FROM after_point) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts)"
}
want="$rows 0 $(DB=bench q "SELECT sum(abalance) FROM pgbench_accounts")"
got_b=$(check_copy "$work/r/ballast-1")
got_p=$(check_copy "$work/r/pgbr-1")
[ "$got_b" = "$want" ] || { echo "bench: ballast's copy holds '$got_b' (rows after the backup, after the point, balance sum), expected '$want'" >&2; exit 1; }
[ "$got_p" = "$want" ] || { echo "bench: pgBackRest's copy holds '$got_p', expected '$want'" >&2; exit 1; }

# ---- where recovery's time goes: fetching each archived segment once by
# each tool's restore_command, outside any server (untimed by the rounds)
q "SELECT pg_walfile_name('$lsn0'::pg_lsn + g * 16777216::numeric) FROM generate_series(0, $walsegs - 1) g" > "$work/segs"
install -d -o postgres -g postgres -m 700 "$work/fetch"
fetch_all() { # TOOL: prints the wall ms of fetching every segment
	local t0 seg
	t0=$(ms)
	while read -r seg; do
		if [ "$1" = ballast ]; then
			quiet BB wal-fetch "$seg" "$work/fetch/$seg"
		else
			quiet PGBR archive-get "$seg" "$work/fetch/$seg"
		fi
		rm -f "$work/fetch/$seg"
	done < "$work/segs"
	echo $(($(ms) - t0))
}
fetch_b=$(fetch_all ballast) fetch_p=$(fetch_all pgbackrest)
nsegs=$(wc -l < "$work/segs")

# ---- RPO under a steady write load: wal-stream beside the archiver
echo "bench: wal-stream under pgbench -R $rate for $load s" >&2
as_pg "$bin" --config "$work/ballast.json" -vv wal-stream >"$work/ws.log" 2>&1 &
ws_pid=$!
for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pg_receivewal'")" = 1 ] && break
	sleep 0.1
done
sleep 2
printf '%s\n' "SELECT extract(epoch FROM clock_timestamp())::numeric(20,3), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), coalesce(pg_wal_lsn_diff(r.sent_lsn, '0/0'), -1), coalesce(extract(epoch FROM r.write_lag), -1) FROM (SELECT 1) x LEFT JOIN pg_stat_replication r ON r.application_name = 'pg_receivewal' \\watch 0.1" |
	timeout "$((load + 3))" "$BINDIR/psql" -X -At -F ' ' -h "$PGDIR" -p "$PORT" -U postgres -d postgres >"$work/samples" 2>/dev/null &
sampler=$!
quiet "$BINDIR/pgbench" -n -c 2 -j 2 -T "$load" -R "$rate" -h "$PGDIR" -p "$PORT" -U postgres bench
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/cmd.log" | head -n 1)
wait "$sampler" || true
sleep 3
kill "$ws_pid"; wait "$ws_pid" || true; ws_pid=
grep 'committed the partial segment' "$work/ws.log" | sed -n 's/.* as read at \([0-9.]*\) (\([0-9]*\) ms).*/\1 \2/p' >"$work/commits"
# lag per sample: the streaming lag (until sent), the repository lag (until
# the first partial commit that read the spool after it was sent)
awk 'NR == FNR { ct[++nc] = $1; cd[nc] = $1 + $2 / 1000; next }
     NF == 4 { t[++n] = $1; cur[n] = $2; sent[n] = $3; wl[n] = $4 }
     END {
	j = 1; k = 1
	for (i = 1; i <= n; i++) {
		if (j < i) j = i
		while (j <= n && sent[j] < cur[i]) j++
		if (j > n) break
		s = t[j]; printf "stream %.3f\n", s - t[i]
		while (k <= nc && ct[k] < s) k++
		if (k <= nc) printf "repo %.3f\n", cd[k] - t[i]
		if (wl[i] >= 0) printf "wlag %.3f\n", wl[i]
	}
     }' "$work/commits" "$work/samples" >"$work/lags"
pct() { # KIND P: the P-th percentile (nearest rank) of the lags of KIND
	awk -v k="$1" '$1 == k { print $2 }' "$work/lags" | sort -n |
		awk -v p="$2" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } r = int(NR * p / 100 + 0.999999); if (r < 1) r = 1; print v[r] }'
}
nsamples=$(grep -c '^stream ' "$work/lags" || true)
npartial=$(wc -l < "$work/commits")
partial_ms=$(awk '{ print $2 }' "$work/commits" | bench_median)
echo "bench: RPO: streaming lag median $(pct stream 50) s p95 $(pct stream 95) s; repository lag median $(pct repo 50) s p95 $(pct repo 95) s ($nsamples samples, $npartial partial commits)" >&2

# ---- restores to the end of the archive
want_hist=$(DB=bench q "SELECT count(*) FROM pgbench_history")
wait_archived
T[bl.w]="" T[bl.m]="" T[pl.w]="" T[pl.m]=""
restore_latest_ballast() { # ROUND
	local w m
	read -r w m < <(bench_time "$work/t" "bl.$1" "${PGU[@]}" "$bin" --config "$work/ballast.json" --json \
		restore --pitr --latest --timeline current --data-dir "$work/r/blatest-$1") || exit 1
	T[bl.w]+=" $w"; T[bl.m]+=" $m"
}
restore_latest_pgbr() { # ROUND
	local d=$work/r/platest-$1 t0 t3 w m
	install -d -o postgres -g postgres -m 700 "$d" "$d.sock"
	t0=$(ms)
	read -r w m < <(bench_time "$work/t" "pl.$1" "${PGU[@]}" pgbackrest --config="$work/pgbackrest.conf" --stanza=bench \
		restore --pg1-path="$d" --target-timeline=current) || exit 1
	promote_copy "$d"
	quiet as_pg "$BINDIR/pg_ctl" -D "$d" -m fast -w -t 3600 stop
	t3=$(ms)
	T[pl.w]+=" $(awk -v a="$t0" -v b="$t3" 'BEGIN {printf "%.2f", (b - a) / 1000}')"; T[pl.m]+=" $m"
}
for i in $(seq 1 "$rounds"); do
	if [ $((i % 2)) = 1 ]; then restore_latest_ballast "$i"; restore_latest_pgbr "$i"; else restore_latest_pgbr "$i"; restore_latest_ballast "$i"; fi
	echo "bench: latest restore round $i: ballast${T[bl.w]} | pgbackrest${T[pl.w]}" >&2
	[ "$i" = 1 ] || rm -rf "$work/r/blatest-$i"* "$work/r/platest-$i"
done
hist_of() { copy_query "$1" "SELECT count(*) FROM pgbench_history"; }
hist_b=$(hist_of "$work/r/blatest-1") hist_p=$(hist_of "$work/r/platest-1")
[ "$hist_b" = "$want_hist" ] || { echo "bench: ballast's latest copy has $hist_b pgbench_history rows, expected $want_hist" >&2; exit 1; }
[ "$hist_p" = "$want_hist" ] || { echo "bench: pgBackRest's latest copy has $hist_p pgbench_history rows, expected $want_hist" >&2; exit 1; }

# ---- report
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
bbw=$(echo "${T[bb.w]}" | median) pbw=$(echo "${T[pb.w]}" | median)
# restore_table BALLAST_LABEL B PGBR_LABEL P: the two tools' rows of a
# restore case (T[B.w], T[B.m], T[P.w], T[P.m]) and the ratio, unterminated
restore_table() {
	local bw pw
	bw=$(echo "${T[$2.w]}" | median) pw=$(echo "${T[$4.w]}" | median)
	echo "| | wall s (runs) | median | peak RSS KiB (median) |"
	echo "|---|---|---|---|"
	echo "| $1 |${T[$2.w]} | $bw | $(echo "${T[$2.m]}" | median) |"
	echo "| $3 |${T[$4.w]} | $pw | $(echo "${T[$4.m]}" | median) (restore) |"
	echo
	printf '%s' "ratio pgBackRest / ballast (median wall): **$(ratio "$pw" "$bw")**"
}
{
	echo "# bench/pitr.sh: ballast physical backup and PITR against pgBackRest $(pgbackrest version | awk '{print $2}')"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(uname -srm), $(nproc) cpus, shared with other jobs (load average before the report: $(cut -d' ' -f1-3 /proc/loadavg))$([ "$quick" = 1 ] && echo '; QUICK: a smoke test, the figures mean little')"
	echo "- ballast-backup $("$bin" --version | awk '{print $2}') from $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2) build); PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), fsync=off on the original"
	echo "- database: pgbench -i -s $scale ($dbsize; data directory $clustersize); both archive every WAL file (one archive_command); zstd level 3, 2 threads / process-max 2; local repositories on the same disk"
	[ -z "$pgbr_server" ] || echo "- VARIANT: pgBackRest's copy started with '$pgbr_server' as well"
	echo "- rounds: $rounds per case, alternating which tool goes first; wall seconds, peak RSS (GNU time, the largest process waited for)"
	echo
	echo "## Base backup (full)"
	echo
	echo "| | wall s (runs) | median | peak RSS KiB (median) | stored |"
	echo "|---|---|---|---|---|"
	echo "| ballast run |${T[bb.w]} | $bbw | $(echo "${T[bb.m]}" | median) | $(mb "$bb_size") |"
	echo "| pgbackrest backup --type=full |${T[pb.w]} | $pbw | $(echo "${T[pb.m]}" | median) | $(mb "$pb_size") (of $(mb "$pb_raw")) |"
	echo
	echo "ratio pgBackRest / ballast (median wall): **$(ratio "$pbw" "$bbw")**; stored size pgBackRest / ballast: $(ratio "$pb_size" "$bb_size")"
	echo
	echo "## Restore to a restore point, recovered and promoted"
	echo
	echo "After the last backups: $rows rows inserted, every tenth pgbench account updated, then the point, then $((rows / 4)) rows more (not to be restored); $walsegs WAL segments archived after the last base backup."
	echo
	restore_table "ballast restore --pitr --name (end to end)" br "pgbackrest restore + start until promoted + stop" pr
	echo
	echo
	echo "- ballast's steps (median ms): extraction $(echo "${T[br.x]}" | median), pg_verifybackup $(echo "${T[br.v]}" | median), recovery until promoted $(echo "${T[br.r]}" | median); the rest is choosing the backup, the archive's gap check, the shutdown, syncfs and the swap"
	echo "- pgBackRest's steps (median ms): restore $(echo "${T[pr.s]}" | median), start until promoted $(echo "${T[pr.c]}" | median); the rest is the fast shutdown"
	echo "- fetching the $nsegs segments once each, by hand (as postgres, one process per segment as restore_command runs it): ballast wal-fetch $fetch_b ms ($((fetch_b / nsegs)) ms a segment), pgbackrest archive-get $fetch_p ms ($((fetch_p / nsegs)) ms a segment)"
	echo "- peak RSS: ballast's includes the temporary server it waits for (shared_buffers touched by replay); pgBackRest's is of \`pgbackrest restore\` alone (pg_ctl's server is not a child GNU time waits for)"
	echo "- both copies of round 1, started afterwards: rows after the backup, rows after the point, sum of balances = '$got_b' (ballast), '$got_p' (pgBackRest), expected '$want'"
	echo
	echo "## RPO under a steady write load (wal-stream, partial_interval $partial)"
	echo
	echo "pgbench -n -c 2 -R $rate for $load s (achieved $tps tps) while \`ballast-backup wal-stream\` streams beside the archiver; $nsamples samples of 0.1 s, $npartial partial segment commits (median $partial_ms ms each)."
	echo
	echo "| lag of a committed transaction | median s | p95 s |"
	echo "|---|---|---|"
	echo "| streaming: until sent to pg_receivewal (its spool) | $(pct stream 50) | $(pct stream 95) |"
	echo "| repository: until a partial segment commit holds it (upper bound) | $(pct repo 50) | $(pct repo 95) |"
	echo "| pg_stat_replication.write_lag (the server's figure from pg_receivewal's replies) | $(pct wlag 50) | $(pct wlag 95) |"
	echo
	echo "The sampling period (0.1 s) is the resolution of the first two rows."
	echo
	echo "## Restore to the latest point, recovered and promoted"
	echo
	restore_table "ballast restore --pitr --latest (end to end)" bl "pgbackrest restore (default target) + start until promoted + stop" pl
	echo "; both copies of round 1 hold the original's $want_hist pgbench_history rows ('$hist_b' ballast, '$hist_p' pgBackRest)"
} | tee "$out/pitr-$stamp.md"
echo "bench: wrote $out/pitr-$stamp.md" >&2

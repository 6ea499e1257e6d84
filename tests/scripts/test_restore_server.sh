#!/usr/bin/env bash
# The server under a swap restore fails: restarted in the middle of
# pg_restore (crash-like, immediate), stopped and left down, and its
# tablespace volume full. Each time the restore fails with a line that says
# why, the live database's per-table row hashes are the ones it had, and the
# next restore (the server back, the space there) succeeds and leaves no
# scratch database behind.
#
# A cluster of its own (tests/services/pg.sh): the suite restarts and stops
# it, which the shared one must never see. The full volume is a tmpfs
# mounted under the suite's temp dir, so this needs root (exit 77, skipped,
# elsewhere).
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "SKIPPED: needs root to mount a tmpfs for the full-tablespace case" >&2
	exit 77
fi
tmp=$(mktemp -d /tmp/ballast-rserver-XXXXXX)
chmod 755 "$tmp"
pgdir=$tmp/pg
cleanup() {
	umount "$tmp/small" 2>/dev/null || true
	"$S/tests/services/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
"$S/tests/services/pg.sh" start "$pgdir" >/dev/null || { echo "FAIL: cannot start a cluster" >&2; exit 1; }
bindir=$(cat "$pgdir/bindir")
ci=$(cat "$pgdir/conninfo")
as_pg() { runuser -u postgres -- "$@"; }
psql_q() { "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 "$ci" "$@"; }
psql_db() { local db=$1; shift; "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 "$ci dbname=$db" "$@"; }
bb() { "$B/ballast-backup" --config "$tmp/ballast.json" "$@"; }

# Per-table row hashes: one line per table, in name order.
hashes() {
	local db=$1 t
	for t in $(psql_db "$db" -c "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do
		printf '%s %s\n' "$t" "$(psql_db "$db" -c "SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM $t x")"
	done
}
scratch_dbs() { psql_q -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'app\\_\\_ballast\\_restore\\_%'"; }

# The database: enough rows that pg_restore is in the middle of its data
# when the wrapper below acts (the dump is ~5 MB, the cut is at 256 KiB).
psql_q -c "CREATE TABLESPACE ts_big LOCATION '$(mkdir -p "$tmp/big" && chown postgres: "$tmp/big" && echo "$tmp/big")'"
psql_q -c "CREATE DATABASE app TABLESPACE ts_big"
psql_db app -c "CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric)" \
	-c "INSERT INTO orders SELECT g, 'customer ' || (g % 977), (g * 7919) % 100000 / 100.0 FROM generate_series(1, 120000) g" \
	-c "CREATE TABLE customers AS SELECT DISTINCT customer AS name FROM orders"

# restore_command: pg_restore behind a gate. RS_FAULT picks what happens to
# the server once 256 KiB of the dump went in: restart (immediate, like a
# crash and its recovery) or stop; then the rest of the dump follows.
cat >"$tmp/pg_restore_gate" <<SH
#!/bin/sh
case "\${RS_FAULT:-}" in
restart|stop)
	{ head -c 262144; runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w -t 60 "\$RS_FAULT" >/dev/null 2>&1; cat; } | "$bindir/pg_restore" "\$@"
	;;
*) exec "$bindir/pg_restore" "\$@" ;;
esac
SH
chmod 755 "$tmp/pg_restore_gate"
cat >"$tmp/ballast.json" <<JSON
{ "project": "rserver", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$ci dbname=app",
                   "dump_command": ["$bindir/pg_dump"],
                   "restore_command": ["$tmp/pg_restore_gate"] } ] }
JSON
t_run 0 bb init
t_run 0 bb run
backup_hashes=$(hashes app)
# what the restores below must either leave alone or replace whole
psql_db app -c "DELETE FROM orders WHERE id % 3 = 0" -c "UPDATE customers SET name = upper(name)"
live_hashes=$(hashes app)
t_check "the live database differs from the backup" ne "$live_hashes" "$backup_hashes"

# A swap restore's scratch database lives where the live one does.
t_run 0 bb restore --latest --db app --clean --no-keep
t_check "restore: the backup's rows" eq "$(hashes app)" "$backup_hashes"
t_check "restore: the database stays in its tablespace" eq \
	"$(psql_q -c "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = 'app'")" ts_big
psql_db app -c "DELETE FROM orders WHERE id % 3 = 0" -c "UPDATE customers SET name = upper(name)"
t_check "diverged again" eq "$(hashes app)" "$live_hashes"

# 1. The server restarts in the middle of pg_restore.
ERR=
RS_FAULT=restart t_run 1 bb restore --latest --db app --clean --no-keep
ERR=$t_err; printf "%s\n" "$t_err" | sed "s|^|# |"
t_check "restart: the error names the database" contains "$t_err" "app"
t_check "restart: pg_restore's connection loss is reported" contains "$t_err" "pg_restore"
t_check "restart: the server is back" eq "$(psql_q -c 'SELECT 1')" 1
t_check "restart: live rows unchanged" eq "$(hashes app)" "$live_hashes"
t_check "restart: pg_restore's reason is one line" contains "$t_err" "server closed the connection unexpectedly This probably"
t_check "restart: the scratch database is dropped through a new connection" eq "$(scratch_dbs)" 0
ERR=

# 2. The server stops in the middle and stays down.
RS_FAULT=stop t_run 1 bb restore --latest --db app --clean --no-keep
stop_err=$t_err; printf "%s\n" "$t_err" | sed "s|^|# |"
t_check "stop: the error is one line per failure, never a success" lacks "$t_out" "restored"
as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $(cat "$pgdir/port") -c unix_socket_directories=$pgdir -c fsync=off" \
	start >/dev/null 2>&1
t_check "stop: the server is back" eq "$(psql_q -c 'SELECT 1')" 1
t_check "stop: live rows unchanged" eq "$(hashes app)" "$live_hashes"
t_check "stop: the failure names the connection" contains "$stop_err" "connection"
t_check "stop: the scratch database left is named, with who drops it" contains "$stop_err" "(the next restore of app drops it)"
t_check "stop: the scratch database is there until then" eq "$(scratch_dbs)" 1

# The next restore, with the server there, succeeds and clears what the
# interrupted ones left.
t_run 0 bb restore --latest --db app --clean --no-keep
t_check "after the faults: the backup's rows" eq "$(hashes app)" "$backup_hashes"
t_check "after the faults: no scratch database left" eq "$(scratch_dbs)" 0

# 3. The tablespace's volume is full: a tmpfs that holds the live
# database once, not twice.
mkdir -p "$tmp/small"
mount -t tmpfs -o size=24m,mode=0700 tmpfs "$tmp/small"
mkdir "$tmp/small/ts" && chown postgres: "$tmp/small" "$tmp/small/ts"
psql_q -c "CREATE TABLESPACE ts_small LOCATION '$tmp/small/ts'"
psql_q -c "ALTER DATABASE app SET TABLESPACE ts_small"
psql_db app -c "DELETE FROM orders WHERE id % 3 = 0" -c "UPDATE customers SET name = upper(name)"
live_hashes=$(hashes app)
used_before=$(df -k --output=used "$tmp/small" | tail -1)
t_run 1 bb restore --latest --db app --clean --no-keep; printf "%s\n" "$t_err" | sed "s|^|# |"
t_check "disk full: the server's own error reaches the user" contains "$t_err" "No space left on device"
t_check "disk full: live rows unchanged" eq "$(hashes app)" "$live_hashes"
t_check "disk full: the scratch database is gone" eq "$(scratch_dbs)" 0
t_check "disk full: its space is given back" eq "$(df -k --output=used "$tmp/small" | tail -1)" "$used_before"
t_check "disk full: the database is still on its volume" eq \
	"$(psql_q -c "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = 'app'")" ts_small
t_done

#!/usr/bin/env bash
# services: pg
# Concurrency: operations that change the same thing at the same time are
# serialised (with --wait / lock_wait) or refused with exit 3, never
# interleaved. Each contender logs "start"/"end" lines into one file from
# inside the critical section (a dump command or a migration), so an
# interleaving shows up as two starts in a row.
#   two (and more) backup runs, two migrators; prune and deploy pairs are
#   added below when those commands exist in this build.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC/pg
ci=$(cat "$svc/conninfo")
bb=$B/ballast-backup
bm=$B/ballast-migrate
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$ci" "$@"; }
psql_q -c "DROP DATABASE IF EXISTS conc" -c "CREATE DATABASE conc" >/dev/null
cconn=${ci/dbname=postgres/dbname=conc}
psql -X -q -v ON_ERROR_STOP=1 -d "$cconn" -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g" >/dev/null

# never_interleaved FILE WHAT: every "start" is followed by its "end".
never_interleaved() {
	if awk '$1 == "start" { if (open) bad = 1; open = 1 } $1 == "end" { open = 0 } END { exit bad || open }' "$1"; then
		t_ok
	else
		t_fail "$2: interleaved: $(tr '\n' ' ' <"$1")"
	fi
}

# --- backup run vs backup run -------------------------------------------
cat >"$tmp/slowdump" <<SH
#!/bin/sh
case "\$1" in --version) exec pg_dump --version;; esac
echo "start \$\$" >> "$tmp/backup.events"
sleep 1
pg_dump "\$@" || exit \$?
echo "end \$\$" >> "$tmp/backup.events"
SH
chmod 755 "$tmp/slowdump"
cat >"$tmp/ballast.json" <<JSON
{ "project": "conc", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$cconn", "dump_command": ["$tmp/slowdump"] } ],
  "migrations": { "dir": "$tmp/migrations", "database": "app", "lock_wait": "0s" } }
JSON
cfg=$tmp/ballast.json

# Four at once without --wait: one runs, three are refused with exit 3.
: >"$tmp/backup.events"
pids=()
for i in 1 2 3 4; do
	"$bb" --config "$cfg" run >"$tmp/run$i.out" 2>"$tmp/run$i.err" &
	pids+=($!)
done
ok=0; locked=0; other=""
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}"; rc=$?
	case $rc in
	0) ok=$((ok + 1)) ;;
	3) locked=$((locked + 1)); t_contains "$(cat "$tmp/run$i.err")" "locked" "refused run $i" ;;
	*) other="$other run$i:$rc($(cat "$tmp/run$i.err"))" ;;
	esac
done
[ "$ok" = 1 ] && [ "$locked" = 3 ] && [ -z "$other" ] && t_ok ||
	t_fail "four runs at once: $ok ok, $locked locked (want 1 and 3)$other"
never_interleaved "$tmp/backup.events" "four runs without --wait"

# Three at once with --wait: all succeed, one after the other.
: >"$tmp/backup.events"
pids=()
for i in 1 2 3; do
	"$bb" --config "$cfg" run --wait 120 >"$tmp/wrun$i.out" 2>"$tmp/wrun$i.err" &
	pids+=($!)
done
for i in 1 2 3; do
	wait "${pids[$((i - 1))]}" && t_ok || t_fail "run --wait $i failed: $(cat "$tmp/wrun$i.err")"
done
[ "$(grep -c '^start' "$tmp/backup.events")" = 3 ] && t_ok || t_fail "run --wait: $(cat "$tmp/backup.events")"
never_interleaved "$tmp/backup.events" "three runs with --wait"
n=$("$bb" --config "$cfg" list --json | tail -1 | python3 -c 'import json,sys; print(sum(b["status"] == "good" for b in json.load(sys.stdin)["backups"]))')
[ "$n" = 4 ] && t_ok || t_fail "expected 4 good backups, list shows $n"
t_run 0 "$bb" --config "$cfg" verify --all

# --- migrator vs migrator -----------------------------------------------
mkdir -p "$tmp/migrations"
cat >"$tmp/migrations/1_slow.up.sql" <<'SQL'
CREATE TABLE IF NOT EXISTS events (n serial, what text, at timestamptz default clock_timestamp());
INSERT INTO events (what) VALUES ('start 1');
SELECT pg_sleep(1.5);
CREATE TABLE m1 (id int);
INSERT INTO events (what) VALUES ('end 1');
SQL
echo "DROP TABLE m1;" >"$tmp/migrations/1_slow.down.sql"
cat >"$tmp/migrations/2_next.up.sql" <<'SQL'
INSERT INTO events (what) VALUES ('start 2');
SELECT pg_sleep(0.5);
CREATE TABLE m2 (id int);
INSERT INTO events (what) VALUES ('end 2');
SQL
echo "DROP TABLE m2;" >"$tmp/migrations/2_next.down.sql"

# lock_wait 0s: one migrator applies both, the other is refused with exit 3
"$bm" --config "$cfg" up >"$tmp/m1.out" 2>"$tmp/m1.err" & p1=$!
"$bm" --config "$cfg" up >"$tmp/m2.out" 2>"$tmp/m2.err" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
if { [ $r1 = 0 ] && [ $r2 = 3 ]; } || { [ $r1 = 3 ] && [ $r2 = 0 ]; }; then
	t_ok
	[ $r1 = 3 ] && e=$(cat "$tmp/m1.err") || e=$(cat "$tmp/m2.err")
	t_contains "$e" "lock" "the refused migrator names the lock"
else
	t_fail "two migrators with lock_wait 0s exited $r1 and $r2 (want 0 and 3): $(cat "$tmp/m1.err" "$tmp/m2.err")"
fi
hist=$(psql -X -At -d "$cconn" -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM ballast_migrations")
[ "$hist" = "1,2" ] && t_ok || t_fail "history after two migrators: '$hist' (want 1,2)"
psql -X -At -d "$cconn" -c "SELECT what FROM events ORDER BY n" >"$tmp/mig.events"
never_interleaved "$tmp/mig.events" "two migrators (refused)"

# lock_wait 60s: down to 0 and two migrators up again: both succeed, serialised
t_run 0 "$bm" --config "$cfg" down --to 0
psql -X -q -d "$cconn" -c "TRUNCATE events" >/dev/null
sed -i 's/"lock_wait": "0s"/"lock_wait": "60s"/' "$cfg"
"$bm" --config "$cfg" up >"$tmp/m1.out" 2>"$tmp/m1.err" & p1=$!
"$bm" --config "$cfg" up >"$tmp/m2.out" 2>"$tmp/m2.err" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && t_ok || t_fail "two migrators with lock_wait 60s exited $r1 and $r2: $(cat "$tmp/m1.err" "$tmp/m2.err")"
hist=$(psql -X -At -d "$cconn" -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM ballast_migrations")
[ "$hist" = "1,2" ] && t_ok || t_fail "history after two waiting migrators: '$hist'"
psql -X -At -d "$cconn" -c "SELECT what FROM events ORDER BY n" >"$tmp/mig.events"
[ "$(grep -c '^start' "$tmp/mig.events")" = 2 ] && t_ok || t_fail "each migration ran once: $(tr '\n' ' ' <"$tmp/mig.events")"
never_interleaved "$tmp/mig.events" "two migrators (waiting)"

t_done

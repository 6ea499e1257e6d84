#!/usr/bin/env bash
# services: pg http
# Concurrency: operations that change the same thing at the same time are
# serialised (with --wait / lock_wait) or refused with exit 3, never
# interleaved. Each contender logs "start"/"end" lines into one file from
# inside the critical section (a dump command or a migration), so an
# interleaving shows up as two starts in a row.
#   two (and more) backup runs, two prunes, prune during a run, two
#   migrators, two deploys.
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

# Who holds a lock is held there by a gate, not by a sleep: a sleep ends
# before a contender scheduled late on a loaded machine tries the lock.
# wait_exited N PID...: up to 120 s until N of the PIDs have exited.
wait_exited() {
	local n=$1 p k; shift
	for _ in $(seq 1 1200); do
		k=0; for p in "$@"; do kill -0 "$p" 2>/dev/null || k=$((k + 1)); done
		[ "$k" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}
# gate_wait GATE GO (in the holder's critical section): while GATE exists,
# wait up to 120 s for GO; else a second, so that runs overlap
gate_wait='if [ -e "$1" ]; then i=0; while [ ! -e "$2" ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done; else sleep 1; fi'

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
set -- "$tmp/gate" "$tmp/go" "\$@"
$gate_wait
shift 2
pg_dump "\$@" || exit \$?
echo "end \$\$" >> "$tmp/backup.events"
SH
chmod 755 "$tmp/slowdump"
cat >"$tmp/ballast.json" <<JSON
{ "project": "conc", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$cconn", "dump_command": ["$tmp/slowdump"] } ],
  "retention": { "keep_last": 2, "incomplete_grace": "0s" },
  "migrations": { "dir": "$tmp/migrations", "database": "app", "lock_wait": "0s" } }
JSON
cfg=$tmp/ballast.json
"$bb" --config "$cfg" init >/dev/null

# Four at once without --wait: one runs, three are refused with exit 3.
: >"$tmp/backup.events"
touch "$tmp/gate"
pids=()
for i in 1 2 3 4; do
	"$bb" --config "$cfg" run >"$tmp/run$i.out" 2>"$tmp/run$i.err" &
	pids+=($!)
done
wait_exited 3 "${pids[@]}"
touch "$tmp/go"
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
rm -f "$tmp/gate" "$tmp/go"

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

# --- prune vs run, prune vs prune ---------------------------------------
if "$bb" --config "$cfg" prune --dry-run 2>&1 | grep -q "not built yet"; then
	t_fail "prune pairs: this build has no ballast-backup prune"
else
good() { "$bb" --config "$cfg" list --json | tail -1 | python3 -c 'import json,sys; print(sum(b["status"] == "good" for b in json.load(sys.stdin)["backups"]))'; }
# prune while a run holds the lock: refused with exit 3, the run commits
: >"$tmp/backup.events"
touch "$tmp/gate"
"$bb" --config "$cfg" run >"$tmp/prun.out" 2>"$tmp/prun.err" & rp=$!
for i in $(seq 1200); do grep -q start "$tmp/backup.events" && break; sleep 0.1; done
t_run 3 "$bb" --config "$cfg" prune
t_contains "$t_err" "locked" "prune during a run"
touch "$tmp/go"
wait $rp && t_ok || t_fail "the run during prune failed: $(cat "$tmp/prun.err")"
rm -f "$tmp/gate" "$tmp/go"
[ "$(good)" = 5 ] && t_ok || t_fail "after prune during run: $(good) good backups, expected 5 (nothing pruned)"
# two prunes at once, a few rounds: each exits 0 or 3, and the policy holds
for round in 1 2 3; do
	"$bb" --config "$cfg" prune >"$tmp/p1.out" 2>"$tmp/p1.err" & p1=$!
	"$bb" --config "$cfg" prune >"$tmp/p2.out" 2>"$tmp/p2.err" & p2=$!
	wait $p1; r1=$?; wait $p2; r2=$?
	case "$r1$r2" in
	00|03|30) t_ok ;;
	*) t_fail "two prunes (round $round) exited $r1 and $r2: $(cat "$tmp/p1.err" "$tmp/p2.err")" ;;
	esac
	[ "$(good)" = 2 ] && t_ok || t_fail "after two prunes (round $round): $(good) good backups, keep_last is 2"
	t_run 0 "$bb" --config "$cfg" verify --all
	t_run 0 "$bb" --config "$cfg" run --wait 60
done
fi

# --- migrator vs migrator -----------------------------------------------
mkdir -p "$tmp/migrations"
cat >"$tmp/migrations/1_slow.up.sql" <<'SQL'
CREATE TABLE IF NOT EXISTS events (n serial, what text, at timestamptz default clock_timestamp());
INSERT INTO events (what) VALUES ('start 1');
-- held until the test opens the gate (a row in mgate), 60 s at most
DO $$ BEGIN
	FOR i IN 1 .. 1200 LOOP
		EXIT WHEN EXISTS (SELECT FROM mgate);
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;
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
psql -X -q -v ON_ERROR_STOP=1 -d "$cconn" -c "CREATE TABLE mgate (open bool)" >/dev/null
"$bm" --config "$cfg" up >"$tmp/m1.out" 2>"$tmp/m1.err" & p1=$!
"$bm" --config "$cfg" up >"$tmp/m2.out" 2>"$tmp/m2.err" & p2=$!
wait_exited 1 $p1 $p2
psql -X -q -d "$cconn" -c "INSERT INTO mgate VALUES (true)" >/dev/null
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

# --- deploy vs deploy ---------------------------------------------------
# The critical section runs from the pre-deploy hook to the post-verify hook.
if [ ! -d "$BALLAST_TEST_SVC/http" ] || [ ! -x "$S/tests/standin/compose" ]; then
	t_fail "deploy pairs: no http service or compose stand-in in this tree"
	t_done; exit
fi
http=$BALLAST_TEST_SVC/http
app=$tmp/app; standin=$tmp/standin
mkdir -p "$app" "$standin"
ln -s "$(cat "$http/state")" "$standin/health"
printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n' >"$app/docker-compose.yml"
printf 'NS=example\n' >"$app/.env.qa"
for phase in pre-deploy post-verify; do
	cat >"$tmp/hook-$phase" <<SH
#!/bin/sh
echo "\$( [ $phase = pre-deploy ] && echo start || echo end ) \$BALLAST_RELEASE" >> "$tmp/deploy.events"
set -- "$tmp/dgate" "$tmp/dgo"
[ $phase = pre-deploy ] && { $gate_wait; }
exit 0
SH
	chmod 755 "$tmp/hook-$phase"
done
cat >"$tmp/deploy.json" <<JSON
{ "project": "conc",
  "images": { "BACKEND_IMAGE": "\${NS}/backend" },
  "environments": { "qa": {
      "transport": { "type": "local" }, "app_dir": "$app",
      "compose_file": "docker-compose.yml", "env_file": ".env.qa",
      "compose_command": ["$S/tests/standin/compose", "--standin", "$standin"],
      "backup_command": ["$B/ballast-backup"], "migrate_command": ["$B/ballast-migrate"],
      "min_free": "1M", "snapshot": false, "lock_ttl": "10m",
      "hooks": { "pre-deploy": "$tmp/hook-pre-deploy", "post-verify": "$tmp/hook-post-verify" },
      "health": [ { "url": "$(cat "$http/url")", "status": 200, "timeout": "1s", "interval": "100ms",
                    "deadline": "5s", "stable_for": "200ms" } ] } } }
JSON
bd=$B/ballast-deploy
t_run 0 "$bd" --config "$tmp/deploy.json" deploy qa --release v1
# two at once without waiting: one deploys, the other exits 3
: >"$tmp/deploy.events"
touch "$tmp/dgate"
"$bd" --config "$tmp/deploy.json" deploy qa --release v2 >"$tmp/d1.out" 2>"$tmp/d1.err" & p1=$!
"$bd" --config "$tmp/deploy.json" deploy qa --release v3 >"$tmp/d2.out" 2>"$tmp/d2.err" & p2=$!
wait_exited 1 $p1 $p2
touch "$tmp/dgo"
wait $p1; r1=$?; wait $p2; r2=$?
rm -f "$tmp/dgate" "$tmp/dgo"
if [ "$r1$r2" = 03 ] || [ "$r1$r2" = 30 ]; then t_ok; else
	t_fail "two deploys exited $r1 and $r2 (want 0 and 3): $(cat "$tmp/d1.err" "$tmp/d2.err")"; fi
never_interleaved "$tmp/deploy.events" "two deploys (refused)"
[ "$(grep -c '^start' "$tmp/deploy.events")" = 1 ] && t_ok || t_fail "the refused deploy ran a hook: $(tr '\n' ' ' <"$tmp/deploy.events")"
# two at once with --lock-wait: both deploy, one after the other
: >"$tmp/deploy.events"
"$bd" --config "$tmp/deploy.json" deploy qa --release v4 --lock-wait 60 >"$tmp/d1.out" 2>"$tmp/d1.err" & p1=$!
"$bd" --config "$tmp/deploy.json" deploy qa --release v5 --lock-wait 60 >"$tmp/d2.out" 2>"$tmp/d2.err" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
[ "$r1$r2" = 00 ] && t_ok || t_fail "two waiting deploys exited $r1 and $r2: $(cat "$tmp/d1.err" "$tmp/d2.err")"
never_interleaved "$tmp/deploy.events" "two deploys (waiting)"
[ "$(grep -c '^end' "$tmp/deploy.events")" = 2 ] && t_ok || t_fail "deploy events: $(tr '\n' ' ' <"$tmp/deploy.events")"
last=$(tail -1 "$tmp/deploy.events" | cut -d' ' -f2)
state=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["release"])' "$app/.ballast/state.json")
[ "$state" = "$last" ] && t_ok || t_fail "state.json says $state, the last deploy to finish was $last"
n=$(grep -c '"result":"deployed"' "$app/.ballast/history.jsonl")
[ "$n" = 4 ] && t_ok || t_fail "history has $n deployed entries, expected 4 (v1, one of v2/v3, v4, v5)"

t_done

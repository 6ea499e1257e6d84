#!/usr/bin/env bash
# ballast-backup wal-stream against a real PostgreSQL 15 that has no
# archive_command at all (as the stock postgres image): the WAL arrives
# through a replication slot, and a point-in-time restore from a base
# backup plus the streamed WAL gets every row committed before the last
# segment switch. The streamer is killed (SIGKILL) while the server writes,
# the server restarts under it, a second streamer is refused, SIGTERM stops
# it cleanly, and after all of it the archive has no gap.
# The replication connection goes through a TCP proxy the test controls
# (tcpproxy.py): it cuts the connection while rows are written, then
# blackholes it (open, silent) and the stall check must restart
# pg_receivewal; a stall check the server refuses (no free WAL sender) must
# not. With wal_stream.partial_interval the rows committed after
# the last segment switch reach the archive as the segment's partial copy,
# and a restore to the latest point ends in it.
. "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ballast-walstream-XXXXXX")
chmod 755 "$WORK"
PGDIR=$WORK/pg
STREAMER='' PROXY='' BINDIR=''
cleanup() {
	[ -n "$STREAMER" ] && kill -9 "$STREAMER" 2>/dev/null
	[ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
	"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1
	[ -d "$WORK/r/data" ] && as_owner "$BINDIR/pg_ctl" -D "$WORK/r/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
"$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || exit 1
PGPORT=$(cat "$PGDIR/port") BINDIR=$(cat "$PGDIR/bindir")
export PGHOST=$PGDIR PGPORT PGUSER=postgres
OWNER=$(stat -c %U "$PGDIR/data")
# wal-stream and the restore's wal-fetch run as the server's user, as the
# unit's User= would
# (setpriv execs: $! is then the streamer itself, which the signals below
# must reach; runuser would stay in between)
as_owner() { if [ "$(id -u)" = 0 ]; then setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@"; else "$@"; fi; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
PGOPTS="-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGDIR -c fsync=off"
# a walsender whose client went silent lets go of the slot after 5 s (the
# blackhole below: the streamer's next connection needs the slot)
q "ALTER SYSTEM SET wal_sender_timeout = '5s'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
python3 "$S/tests/scripts/tcpproxy.py" "$PGPORT" "$WORK/proxy.port" &
PROXY=$!
for _ in $(seq 1 600); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
PROXYPORT=$(cat "$WORK/proxy.port")
export WS_PW; WS_PW=$(cat "$PGDIR/password")

CFG=$WORK/ballast.json
mkdir -p "$WORK/repo" "$WORK/state"
cat > "$CFG" <<JSON
{ "project": "ws", "state_dir": "$WORK/state",
  "repository": { "type": "local", "path": "$WORK/repo" },
  "metrics": { "textfile": "$WORK/state/ballast.prom" },
  "databases": [ { "name": "app", "mode": "physical", "pg_bindir": "$BINDIR",
                   "conninfo": "host=127.0.0.1 port=$PROXYPORT user=postgres dbname=postgres",
                   "password_env": "WS_PW",
                   "wal_stream": { "max_slot_lag": "64M", "partial_interval": "1s",
                                   "stall_timeout": "3s" } } ] }
JSON
chmod 644 "$CFG"
"$B/ballast-backup" --config "$CFG" init >/dev/null || exit 1
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$WORK/repo/ws" "$WORK/state"
BB() { as_owner "$B/ballast-backup" --config "$CFG" "$@"; }
archived() { find "$WORK/repo/ws/wal/app" -type f -name '0*' ! -name '*.tmp-*' ! -name '*.partial-*' 2>/dev/null | sed 's|.*/||' | cut -c1-24 | sort -u; }
partials() { find "$WORK/repo/ws/wal/app" -type f -name '*.partial-*.zst' 2>/dev/null | sed 's|.*/||' | sort; }
# writer N LABEL: N single-row commits, 20 ms apart, on the socket (not
# through the proxy)
writer() { for i in $(seq 1 "$1"); do q "INSERT INTO t (what) VALUES ('$2-$i')" >/dev/null; sleep 0.02; done; }
# wait_log TEXT: up to 90 s for the streamer's log to say it
wait_log() {
	for _ in $(seq 1 900); do grep -qF "$1" "$WORK/stream.log" && return 0; sleep 0.1; done
	echo "    the log never said: $1" >&2; tail -n 5 "$WORK/stream.log" >&2
	return 1
}
# wait_archived SEGMENT: up to 60 s for the archive to hold it
wait_archived() {
	for _ in $(seq 1 600); do archived | grep -qx "$1" && return 0; sleep 0.1; done
	echo "    $1 not archived; have: $(archived | tr '\n' ' ')" >&2
	return 1
}
switch() { q "SELECT pg_walfile_name(pg_switch_wal())"; }
start_streamer() { # $! must be the streamer itself: the signals below go to it
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- \
			"$B/ballast-backup" --config "$CFG" -v wal-stream >>"$WORK/stream.log" 2>&1 &
	else
		"$B/ballast-backup" --config "$CFG" -v wal-stream >>"$WORK/stream.log" 2>&1 &
	fi
	STREAMER=$!
}

q "CREATE TABLE t (id serial PRIMARY KEY, what text NOT NULL)" >/dev/null
start_streamer
for _ in $(seq 1 600); do [ "$(q "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ballast_app' AND active")" = 1 ] && break; sleep 0.1; done
t_check "the slot ballast_app is created and in use" eq "$(q "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ballast_app' AND active")" 1
q "INSERT INTO t (what) SELECT 'first-' || g FROM generate_series(1, 1000) g" >/dev/null
SEG=$(switch)
t_check "a finished segment reaches the archive" wait_archived "$SEG"
t_check "the spool keeps no finished segment" eq "$(ls "$WORK/state/wal-spool/ws-app" | grep -cvE '\.partial$|^\.lock$')" 0

BB run >/dev/null 2>"$WORK/run.err"
t_check "a base backup while streaming" eq "$?" 0
q "INSERT INTO t (what) VALUES ('after-backup')" >/dev/null
t_check "the segment after the base backup is archived" wait_archived "$(switch)"

# ---- SIGKILL: the slot keeps what the streamer did not take ----
kill -9 "$STREAMER"; wait "$STREAMER" 2>/dev/null; STREAMER=
for _ in $(seq 1 50); do pgrep -f "pg_receivewal --directory=$WORK/" >/dev/null || break; sleep 0.1; done
t_check "SIGKILL: pg_receivewal does not outlive the streamer" eq "$(pgrep -fc "pg_receivewal --directory=$WORK/")" 0
q "INSERT INTO t (what) VALUES ('while-down-1')" >/dev/null
DOWN1=$(switch)
q "INSERT INTO t (what) VALUES ('while-down-2')" >/dev/null
DOWN2=$(switch)
t_check "nothing is archived while the streamer is down" eq "$(archived | grep -cx "$DOWN2")" 0
t_check "the server keeps the WAL for the slot" test "$(q "SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = 'ballast_app'")" -gt 0
start_streamer
t_check "after a restart the streamer archives what it missed (1)" wait_archived "$DOWN1"
t_check "after a restart the streamer archives what it missed (2)" wait_archived "$DOWN2"

# ---- a second streamer on the same spool is refused ----
t_run 3 as_owner "$B/ballast-backup" --config "$CFG" wal-stream
t_contains "$t_err" "another wal-stream of database app holds" "a second streamer: exit 3 naming the lock"

# ---- the server restarts under the streamer ----
as_owner "$BINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null
sleep 2
as_owner "$BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -o "$PGOPTS" start >/dev/null
q "INSERT INTO t (what) VALUES ('after-restart')" >/dev/null
t_check "after the server's restart the streamer reconnects and archives" wait_archived "$(switch)"
t_check "the streamer said it starts pg_receivewal again" contains "$(cat "$WORK/stream.log")" "starting it again in"

# ---- the network cut: the proxy closes the replication connection twice
# while rows are written ----
RESTARTS=$(grep -c "starting it again in" "$WORK/stream.log")
writer 150 cut & W=$!
sleep 1; kill -USR1 "$PROXY"; sleep 1.5; kill -USR1 "$PROXY"
wait "$W"
t_check "a cut: the segment written across it is archived" wait_archived "$(switch)"
t_check "a cut: pg_receivewal's exit is logged and it is started again" test "$(grep -c "starting it again in" "$WORK/stream.log")" -gt "$RESTARTS"

# ---- a blackhole: the proxy stops forwarding without closing; TCP stays
# alive, so only the stall check (3 s here) notices ----
writer 100 hole & W=$!
sleep 1; kill -USR2 "$PROXY"
wait "$W"
HOLE=$(switch)
# the stall check sees WAL the server flushed between two of its looks:
# rows keep coming (one every 0.5 s) until it has restarted pg_receivewal
TICKS=0
for _ in $(seq 1 180); do
	grep -qF "pg_receivewal to connect again" "$WORK/stream.log" && break
	TICKS=$((TICKS + 1)); q "INSERT INTO t (what) VALUES ('tick-$TICKS')" >/dev/null; sleep 0.5
done
t_check "a blackhole: the streamer sees the silence and restarts pg_receivewal" wait_log "pg_receivewal to connect again"
t_check "a blackhole: then the segment written through it is archived" wait_archived "$HOLE"

# ---- SIGTERM: a clean stop ----
kill -TERM "$STREAMER"; wait "$STREAMER"; RC=$?; STREAMER=
t_check "SIGTERM: exit 0" eq "$RC" 0
t_check "SIGTERM: the log says it stopped" contains "$(cat "$WORK/stream.log")" "stopped by signal 15"

# ---- a streamer killed between committing a segment and deleting its
# partial copy: the next start removes the copy (here one made by hand: the
# segment's own object under its partial name, which hashes alike) ----
OBJ=$(find "$WORK/repo/ws/wal/app" -name "$SEG-*.zst" | head -n 1)
cp -p "$OBJ" "$(dirname "$OBJ")/$SEG.partial-${OBJ##*-}"
t_check "a partial copy of the archived $SEG is stored" eq "$(partials | grep -c "^$SEG")" 1
t_run 0 as_owner "$B/ballast-backup" --config "$CFG" -v wal-stream --once
t_contains "$t_err" "removed the partial copy of $SEG (the segment is archived)" "a start says it removes the partial copy of an archived segment"
t_check "a start removes the partial copy of an archived segment" eq "$(partials | grep -c "^$SEG")" 0
t_check "--once: the slot's lag is in the metrics textfile" contains "$(cat "$WORK/state/ballast.prom")" 'ballast_wal_stream_slot_lag_bytes{project="ws",database="app",slot="ballast_app"}'
t_check "no secret or conninfo password in the metrics" lacks "$(cat "$WORK/state/ballast.prom")" "password"
CHECK=$("$B/ballast-backup" --config "$CFG" --json check 2>/dev/null | tail -n1)
t_check "check: a wal-stream line for app, ok, naming the slot" eq "$(printf '%s' "$CHECK" | jq -r '.checks[] | select(.check == "wal-stream app") | "\(.status) \(.detail | test("^slot ballast_app holds [0-9]+ MiB of WAL on the server \\(max_slot_lag 64 MiB\\)$"))"')" "ok true"

# ---- the partial segment: rows after the last switch reach the archive
# within partial_interval; the streamer then dies (SIGKILL: no last
# upload) ----
start_streamer
q "INSERT INTO t (what) SELECT 'tail-' || g FROM generate_series(1, 50) g" >/dev/null
# the WAL position after the INSERT's commit, and its segment
read -r TAIL END <<<"$(q "SELECT pg_walfile_name(l) || ' ' || l FROM (SELECT pg_current_wal_lsn() l) x")"
# has_tail: the committed partial copy of $TAIL holds every record up to
# $END (pg_waldump fails on the zeros where a record is still missing)
has_tail() {
	rm -rf "$WORK/tailw"; mkdir -p "$WORK/tailw"
	"$B/ballast-backup" --config "$CFG" wal-fetch "$TAIL" "$WORK/tailw/$TAIL" 2>/dev/null &&
		"$BINDIR/pg_waldump" -q -e "$END" "$WORK/tailw/$TAIL" >/dev/null 2>&1
}
for _ in $(seq 1 300); do has_tail && break; sleep 0.1; done
t_check "the partial segment $TAIL is committed on the interval, up to the INSERT's commit ($END)" has_tail
if ! has_tail; then
	echo "# the streamer's log, last lines:"; tail -n 25 "$WORK/stream.log" | sed 's/^/#   /'
	echo "# its spool:"; ls -la "$WORK"/state/wal-spool/*/ 2>&1 | sed 's/^/#   /'
fi
# the streamer stays live: each WAL record the idle server writes makes a
# new copy, committed before the older one goes, and a segment's copy goes
# after the segment is committed; the settled state has one copy per
# segment, none of a finished segment
settled() { [ -z "$(partials | cut -c1-32 | uniq -d)" ] && [ "$(partials | grep -vc "^$TAIL")" = 0 ]; }
for _ in $(seq 1 300); do settled && break; sleep 0.1; done
t_check "one partial copy per segment" eq "$(partials | cut -c1-32 | uniq -d)" ""
t_check "the finished segments' partial copies are gone" eq "$(partials | grep -vc "^$TAIL")" 0

# ---- the stall check's probe is refused by the server (every WAL sender
# in use): an answer, not a silence; the healthy pg_receivewal streams on ----
# Holders (psql replication connections reading a FIFO) take every WAL
# sender but pg_receivewal's. Counted by kind, not in all: the stall
# check's own probe holds a sender for a moment every 3 s, and counting it
# left one free (a holder refused meanwhile is replaced).
RESTARTS=$(grep -c "to connect again" "$WORK/stream.log")
mkfifo "$WORK/hold"
exec 9<>"$WORK/hold"
HOLDERS=''
held() { q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = 'psql'"; }
NEED=$(( $(q "SHOW max_wal_senders") - $(q "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") ))
for _ in $(seq 1 100); do
	h=$(held)
	[ "$h" -ge "$NEED" ] && break
	for _ in $(seq "$h" $((NEED - 1))); do
		psql -X -q -d "host=$PGDIR port=$PGPORT user=postgres dbname=postgres replication=database" <"$WORK/hold" >/dev/null 2>&1 9>&- &
		HOLDERS="$HOLDERS $!"
	done
	sleep 0.3
done
t_check "every WAL sender is in use: $NEED held, pg_receivewal's streams" eq "$(held)" "$NEED"
t_check "a refused probe is logged as the server's answer" wait_log "the stall check cannot ask the server for its WAL position: cannot connect to"
t_check "a refused probe is not a stall: pg_receivewal is not restarted" eq "$(grep -c "to connect again" "$WORK/stream.log")" "$RESTARTS"
sleep 7 # two more looks of the stall check (stall_timeout 3 s)
t_check "a refused probe is not a stall: pg_receivewal is still not restarted" eq "$(grep -c "to connect again" "$WORK/stream.log")" "$RESTARTS"
t_check "the refusal is logged once, not on every look" eq "$(grep -c "the stall check cannot ask the server" "$WORK/stream.log")" 1
exec 9>&-
for h in $HOLDERS; do wait "$h"; done
kill -9 "$STREAMER"; wait "$STREAMER" 2>/dev/null; STREAMER=
t_check "$TAIL itself is not archived (only its partial copy)" eq "$(archived | grep -cx "$TAIL")" 0
t_run 0 "$B/ballast-backup" --config "$CFG" wal-fetch "$TAIL" "$WORK/tail.seg"
t_check "wal-fetch of $TAIL gives its partial copy, the segment's full size" eq "$(stat -c %s "$WORK/tail.seg")" 16777216

t_check "verify --wal: the streamed archive has no gap" eq "$("$B/ballast-backup" --config "$CFG" verify --wal --json 2>/dev/null | tail -n1 | jq -r '"\(.ok) \(.wal[0].gap)"')" "true null"

# ---- a partial copy stands in only for the last WAL of its timeline ----
# a later segment stored (a copy of the first one's object under the next
# name: its content hashes to its name's hash) makes it a gap
NEXT=$(printf '%.16s%08X' "$TAIL" $((16#${TAIL:16:8} + 1)))
OBJ=$(find "$WORK/repo/ws/wal/app" -name "$SEG-*.zst" | head -n 1)
FAKE=$(dirname "$OBJ")/$NEXT-${OBJ##*-}
cp "$OBJ" "$FAKE"
t_run 4 "$B/ballast-backup" --config "$CFG" wal-fetch "$TAIL" "$WORK/tail2.seg"
t_contains "$t_err" "wal file $TAIL is in the archive only as $TAIL.partial while later segment $NEXT of the same timeline is stored" "wal-fetch: a partial copy before a later segment is a gap (exit 4)"
t_check "verify --wal: the partial copy before a later segment is the gap (exit 4)" eq "$("$B/ballast-backup" --config "$CFG" verify --wal --json 2>/dev/null | tail -n1 | jq -r '"\(.code) \(.result.wal[0].gap)"')" "4 $TAIL"
rm -f "$FAKE"

# ---- and it restores: base backup + streamed WAL ----
mkdir -p "$WORK/r"; [ "$(id -u)" = 0 ] && chown "$OWNER" "$WORK/r"
t_run 0 "$B/ballast-backup" --config "$CFG" restore --pitr --latest --data-dir "$WORK/r/data"
as_owner "$BINDIR/pg_ctl" -D "$WORK/r/data" -l "$WORK/r/server.log" -w \
	-o "-c listen_addresses= -c unix_socket_directories=$WORK/r -c port=5432 -c archive_mode=off" start >/dev/null
t_check "the restored server has every row committed, the ones after the last switch too" eq \
	"$(psql -X -At -h "$WORK/r" -p 5432 -d postgres -c "SELECT count(*) FILTER (WHERE what LIKE 'first-%'), count(*) FILTER (WHERE what LIKE 'cut-%'), count(*) FILTER (WHERE what LIKE 'hole-%'), count(*) FILTER (WHERE what LIKE 'tail-%'), count(*) FILTER (WHERE what LIKE 'tick-%'), string_agg(what, ',' ORDER BY id) FILTER (WHERE what !~ '^(first|cut|hole|tail|tick)-') FROM t")" \
	"1000|150|100|50|$TICKS|after-backup,while-down-1,while-down-2,after-restart"

# ---- a later timeline's history file makes the partial copy unused ----
# (recovery must move on to that timeline's copy)
printf '1\t0/FF000000\tno recovery target specified\n' > "$WORK/00000009.history"
t_run 0 "$B/ballast-backup" --config "$CFG" wal-push "$WORK/00000009.history"
t_run 1 "$B/ballast-backup" --config "$CFG" wal-fetch "$TAIL" "$WORK/tail3.seg"
t_contains "$t_err" "its partial copy is not used: timeline 1 superseded it" "wal-fetch: a later timeline makes the partial copy missing (exit 1)"

t_done

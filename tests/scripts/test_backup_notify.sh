#!/usr/bin/env bash
# services: pg hooksink
# ballast-backup run, prune and drill notify through the real binary: the
# healthchecks-style ping (/start, /fail, plain), the webhook (failures by
# default, successes with on: ["success"]), a webhook that answers 500 or
# hangs never changes the command's result, and the Prometheus textfile is
# parsed back after run, prune and drill.
. "$(dirname "$0")/lib.sh"
sink=$BALLAST_TEST_SVC/hooksink
url=$(cat "$sink/url")
ci=$(cat "$BALLAST_TEST_SVC/pg/conninfo")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export PGOPTIONS='-c client_min_messages=warning'
bb() { "$B/ballast-backup" --config "$tmp/ballast.json" "$@"; }
db_ci=${ci/dbname=postgres/dbname=notify_small}
psql -q -X -d "$ci" -c "DROP DATABASE IF EXISTS notify_small" -c "CREATE DATABASE notify_small" >/dev/null
psql -q -X -d "$db_ci" -c "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g" >/dev/null

# cfg DB_CONNINFO ON_JSON [TIMEOUT]
cfg() {
	cat >"$tmp/ballast.json" <<JSON
{ "project": "shop", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "databases": [ { "name": "app", "conninfo": "$1" } ],
  "retention": { "keep_last": 1 },
  "notify": { "webhook": "$url/hook", "ping": "$url/ping/abc/", "on": $2, "timeout": "${3:-5s}" },
  "metrics": { "textfile": "$tmp/ballast.prom" } }
JSON
	bb init >/dev/null
}
reqs() { cat "$sink/requests.jsonl"; : > "$sink/requests.jsonl"; }
# py REQUESTS SCRIPT: run a Python check over the recorded requests (list r)
py() {
	python3 -c "import json,sys
r=[json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
b=[json.loads(x['body']) for x in r if x['method']=='POST']
$2" "$1"
}
prom() { # SERIES: its value in the textfile, or "absent"
	python3 - "$tmp/ballast.prom" "$1" <<'PY'
import sys
vals = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    k, v = line.rsplit(" ", 1)
    vals[k] = float(v)
print(vals.get(sys.argv[2], "absent"))
PY
}
echo ok > "$sink/mode"; : > "$sink/requests.jsonl"

# 1. a success with on: ["failure"]: pings, no webhook
cfg "$db_ci" '["failure"]'
t_run 0 bb run --json
id1=$(printf '%s\n' "$t_out" | sed -n 's/.*"backup_id": *"\([^"]*\)".*/\1/p' | tail -n1)
r=$(reqs)
py "$r" 'assert [x["path"] for x in r] == ["/ping/abc/start", "/ping/abc"], r
assert not b, b' && t_ok || t_fail "success pings, no webhook: $r"
[ "$(prom 'ballast_backup_failures_total{project="shop",item="db:app"}')" = 0.0 ] && t_ok || t_fail "failures_total not created at 0"
ts=$(prom 'ballast_backup_last_success_timestamp_seconds{project="shop",item="db:app"}')
python3 -c "import sys,time; assert abs(float(sys.argv[1]) - time.time()) < 120" "$ts" && t_ok || t_fail "last success timestamp $ts"
bytes=$(prom 'ballast_backup_bytes{project="shop",item="db:app"}')
python3 -c "import sys; assert float(sys.argv[1]) > 0" "$bytes" && t_ok || t_fail "backup bytes $bytes"

# 2. a failing run: /fail, and the webhook body names the error
cfg "${ci/dbname=postgres/dbname=no_such_db}" '["failure"]'
t_run 1 bb run
t_contains "$t_err" "no_such_db" "run against a missing database"
r=$(reqs)
py "$r" 'assert [x["path"] for x in r if x["method"]=="GET"] == ["/ping/abc/start", "/ping/abc/fail"], r
assert len(b) == 1 and b[0]["event"] == "backup" and b[0]["status"] == "failure", b
assert "no_such_db" in b[0]["error"] and b[0]["project"] == "shop", b
assert b[0]["items"] == [{"item": "db:app"}], b
assert "FAILED" in b[0]["text"], b' && t_ok || t_fail "failure webhook: $r"
[ "$(prom 'ballast_backup_failures_total{project="shop",item="db:app"}')" = 1.0 ] && t_ok || t_fail "failures_total after a failure"
[ "$(prom 'ballast_backup_last_success_timestamp_seconds{project="shop",item="db:app"}')" = "$ts" ] && t_ok || t_fail "a failure moved the success timestamp"

# 3. on: ["success"]: the webhook carries id, bytes, duration
cfg "$db_ci" '["success"]'
t_run 0 bb run --json
id2=$(printf '%s\n' "$t_out" | sed -n 's/.*"backup_id": *"\([^"]*\)".*/\1/p' | tail -n1)
r=$(reqs)
py "$r" 'assert len(b) == 1 and b[0]["status"] == "success" and b[0]["backup_id"] == "'"$id2"'", b
assert b[0]["bytes"] > 0 and b[0]["duration_seconds"] >= 0, b
assert b[0]["items"][0]["item"] == "db:app" and b[0]["items"][0]["bytes"] == b[0]["bytes"], b' \
	&& t_ok || t_fail "success webhook: $r"

# 4. a webhook answering 500: warned, retried, the backup stands (exit 0)
echo 500 > "$sink/mode"
t_run 0 bb run --json
# with --json the warning is a JSON line on stdout
t_contains "$t_out" '"level":"warning"' "warning for a 500 is a JSON log line"
t_contains "$t_out" "HTTP 500" "warning for a 500"
t_contains "$t_out" "result is unchanged" "warning says the result stands"
id3=$(printf '%s\n' "$t_out" | sed -n 's/.*"backup_id": *"\([^"]*\)".*/\1/p' | tail -n1)
t_run 0 bb show "$id3"
n=$(reqs | grep -c '"POST"')
[ "$n" = 3 ] && t_ok || t_fail "a 500 was posted $n times, expected 3 attempts"
# ... and a failing run still exits 1 (not 0, not something else)
cfg "${ci/dbname=postgres/dbname=no_such_db}" '["failure"]'
t_run 1 bb run
cfg "$db_ci" '["success", "failure"]' 1s

# 5. a webhook that hangs: bounded by the timeout, result unchanged
echo hang > "$sink/mode"
start=$(date +%s)
t_run 0 bb run
took=$(( $(date +%s) - start ))
t_contains "$t_err" "notify:" "warning for a hanging webhook"
[ "$took" -lt 60 ] && t_ok || t_fail "a hanging webhook held the run for ${took}s"
echo ok > "$sink/mode"; sleep 1; reqs >/dev/null

# 6. prune and drill notify and write their series
t_run 0 bb prune
r=$(reqs)
py "$r" 'assert [x["path"] for x in r if x["method"]=="GET"] == ["/ping/abc/start", "/ping/abc"], r
assert len(b) == 1 and b[0]["event"] == "prune" and b[0]["status"] == "success", b
assert b[0]["kept"] == 1 and len(b[0]["removed"]) >= 3, b' && t_ok || t_fail "prune webhook: $r"
[ "$(prom 'ballast_prune_kept{project="shop"}')" = 1.0 ] && t_ok || t_fail "prune_kept"
t_run 0 bb drill
r=$(reqs)
py "$r" 'assert len(b) == 1 and b[0]["event"] == "drill" and b[0]["status"] == "success", b
d = b[0]["drill"]
assert d["result"] == "passed" and d["databases"][0]["tables_checked"] == 1, d' \
	&& t_ok || t_fail "drill webhook: $r"
v=$(prom 'ballast_drill_last_success_timestamp_seconds{project="shop",item="db:app"}')
python3 -c "import sys,time; assert abs(float(sys.argv[1]) - time.time()) < 120" "$v" && t_ok || t_fail "drill timestamp $v"
v=$(prom 'ballast_drill_backup_age_seconds{project="shop"}')
python3 -c "import sys; assert 0 <= float(sys.argv[1]) < 600" "$v" && t_ok || t_fail "drill backup age $v"
# every series the earlier steps wrote is still there after prune and drill
[ "$(prom 'ballast_backup_failures_total{project="shop",item="db:app"}')" = 2.0 ] && t_ok || t_fail "backup failures lost"
# a failed drill: /fail and a failure body
psql -q -X -d "$ci" -c "DROP ROLE IF EXISTS notify_nocreate" -c "CREATE ROLE notify_nocreate LOGIN" >/dev/null
t_run 1 bb drill --target "$ci user=notify_nocreate"
r=$(reqs)
py "$r" 'assert r[-1]["path"] != "/ping/abc", r
assert "/ping/abc/fail" in [x["path"] for x in r], r
assert len(b) == 1 and b[0]["event"] == "drill" and b[0]["status"] == "failure", b
assert "permission denied" in b[0]["error"], b' && t_ok || t_fail "failed drill webhook: $r"
[ "$(prom 'ballast_drill_failures_total{project="shop"}')" = 1.0 ] && t_ok || t_fail "drill failures_total"
# the textfile is well-formed: one TYPE per metric name, every sample parses
python3 - "$tmp/ballast.prom" <<'PY' && t_ok || t_fail "textfile malformed: $(cat "$tmp/ballast.prom")"
import re, sys
types = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert name not in types, name
        types[name] = kind
    elif line and not line.startswith("#"):
        m = re.fullmatch(r'([a-z_]+)\{project="shop"(,item="[^"]+")?\} (-?[0-9.e+-]+)', line)
        assert m and m.group(1) in types, line
assert types["ballast_backup_failures_total"] == "counter"
PY
t_done

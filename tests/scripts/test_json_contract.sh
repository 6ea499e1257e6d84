#!/usr/bin/env bash
# services: pg
# The --json contract of every command of the three binaries: stdout is
# JSON lines only, and it ends with exactly one terminal object, the
# {"event":"result"} line when the command exits 0, the {"event":"error"}
# line (with "code" = the exit status) otherwise; no other line is a result
# or an error. Success and failure paths both.
. "$(dirname "$0")/lib.sh"
svc=$BALLAST_TEST_SVC
tcp=$(cat "$svc/pg/conninfo_tcp")
export JC_PW=$(cat "$svc/pg/password")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
psql -X -q -d "$tcp dbname=postgres" -c "CREATE DATABASE jc" >/dev/null 2>&1 \
	|| PGPASSWORD=$JC_PW psql -X -q -d "$tcp dbname=postgres" -c "CREATE DATABASE jc" >/dev/null
mkdir -p "$tmp/vol" "$tmp/migrations"
echo hello > "$tmp/vol/a.txt"
echo "CREATE TABLE t (id int);" > "$tmp/migrations/1_t.up.sql"
echo "DROP TABLE t;" > "$tmp/migrations/1_t.down.sql"
cat >"$tmp/ballast.json" <<JSON
{ "project": "jc", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$tmp/repo" },
  "retention": { "keep_last": 2 },
  "databases": [ { "name": "app", "conninfo": "$tcp dbname=jc", "password_env": "JC_PW" } ],
  "volumes": [ { "name": "files", "path": "$tmp/vol" } ],
  "migrations": { "dir": "$tmp/migrations", "database": "app" } }
JSON
ex=$S/examples/audit_app

# contract WANT_RC BINARY ARGS...: run with --json and check the output
contract() {
	local want=$1 bin=$2; shift 2
	t_run "$want" "$B/$bin" --config "$tmp/ballast.json" --json "$@"
	printf '%s\n' "$t_out" | python3 -c '
import json, sys
rc = int(sys.argv[1])
lines = [l for l in sys.stdin.read().split("\n") if l.strip()]
assert lines, "no output"
objs = [json.loads(l) for l in lines]
terminal = [i for i, o in enumerate(objs) if o.get("event") in ("result", "error")]
assert terminal == [len(objs) - 1], "terminal objects at lines %s of %d" % (terminal, len(objs))
last = objs[-1]
if rc == 0:
    assert last["event"] == "result", last
else:
    assert last["event"] == "error" and last["code"] == rc, last
' "$want" && t_ok || t_fail "$bin $*: the --json contract: $(printf '%s' "$t_out" | tail -n3)"
}

contract 2 ballast-backup list                       # no repository yet
contract 0 ballast-backup init
contract 0 ballast-backup run
contract 0 ballast-backup run --dry-run
contract 0 ballast-backup list
contract 0 ballast-backup show latest
contract 2 ballast-backup show nope
contract 0 ballast-backup verify --all
contract 0 ballast-backup check
contract 0 ballast-backup prune --dry-run
contract 0 ballast-backup drill
contract 0 ballast-backup restore latest --volume files --to "$tmp/out"
contract 2 ballast-backup rekey                      # no encryption configured
contract 0 ballast-backup config
# a damaged object: verify reports, then fails with 4; one terminal line
obj=$(find "$tmp/repo" -name 'volume-files.tar.zst' | head -n1)
printf 'X' | dd of="$obj" bs=1 seek=20 conv=notrunc 2>/dev/null
contract 4 ballast-backup verify --all
t_contains "$t_out" '"result":{' "verify's error line carries its result"
contract 1 ballast-backup verify latest              # latest good: none is left

contract 0 ballast-migrate status
contract 0 ballast-migrate plan --to 1
contract 0 ballast-migrate up
contract 0 ballast-migrate verify
contract 0 ballast-migrate history
contract 0 ballast-migrate down 1
echo "CREATE TABLE u (id int);" > "$tmp/migrations/2_u.up.sql"
echo "DROP TABLE u;" > "$tmp/migrations/2_u.down.sql"
contract 5 ballast-migrate status --exit-code          # pending: exit 5
contract 2 ballast-migrate goto nope

contract 0 ballast-deploy --config "$ex/ballast.json" lint prod
contract 4 ballast-deploy lint --file "$ex/docker-compose.dev.yml"
contract 0 ballast-deploy tag-for-ref refs/tags/v1.2.3
contract 0 ballast-deploy env-for-ref refs/heads/main
contract 2 ballast-deploy status nope                # no such environment
t_done

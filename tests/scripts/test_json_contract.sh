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

# progress: a second backup of the volume expects the first one's raw size,
# so its progress events carry total, percent and eta_ms (the first run's
# carry none); a restore expects the manifest's
# (bytes that do not compress, the same on every run: zeros through AES-CTR
# with a fixed key)
head -c 3000000 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 0 -iv 0 > "$tmp/vol/big.bin"
contract 0 ballast-backup run --only volume:files
raw=$(printf '%s\n' "$t_out" | jq -r 'select(.event == "result") | .items[0].raw_size')
t_check "a first backup's progress has no total" eq \
	"$(printf '%s\n' "$t_out" | jq -r 'select(.event == "progress") | .total // "none"' | sort -u)" "none"
contract 0 ballast-backup run --only volume:files
t_check "a second backup's progress expects the first's raw size" eq \
	"$(printf '%s\n' "$t_out" | jq -r 'select(.event == "progress" and .item == "files") | .total' | head -n1)" "$raw"
t_check "its progress has a percentage below 100" eq \
	"$(printf '%s\n' "$t_out" | jq -r 'select(.event == "progress" and .item == "files") | (.percent >= 0 and .percent < 100 and .eta_ms >= 0)' | head -n1)" "true"
size=$(printf '%s\n' "$t_out" | jq -r 'select(.event == "result") | .items[0].raw_size')
contract 0 ballast-backup restore latest --volume files --to "$tmp/out2"
# it counts the bytes it extracts, as a database's restore counts the
# bytes it hands pg_restore
t_check "a volume restore's progress expects the raw size" eq \
	"$(printf '%s\n' "$t_out" | jq -r 'select(.event == "progress" and .item == "files") | "\(.total) \(.percent < 100)"' | head -n1)" "$size true"
rm -rf "$tmp/vol/big.bin" "$tmp/out2"

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

#!/usr/bin/env bash
# services: pg s3 sshd
# Client-side encryption end to end (docs/encryption.md) on the local, sftp
# and s3 drivers: run, list, verify and restore through age; every stored
# object is an age file that stock `age -d` + `zstd -d` turn into what
# pg_restore and tar accept; objects re-encrypted by stock `age` (X25519 and
# passphrase) are read back by ballast; on each driver a write-only host
# (public keys only) runs, lists (labels, items), prunes (keep labels and
# drill results honoured) and checksum-verifies from the plaintext index,
# while a key host detects a tampered index (exit 4, naming the field or
# the stored hash), and a missing index is "unindexed" without a key and
# an unfinished commit with one; a backup without an index (older format)
# still works with the key; a read without an identity names the key;
# identity_command fetches the key; a configured but unusable key is refused
# before anything is stored; a flipped byte fails verify; secrets never reach
# output, argv or the repository.
. "$(dirname "$0")/lib.sh"
command -v age >/dev/null && command -v age-keygen >/dev/null || {
	echo "SKIP: the age CLI is not installed (scripts/deps.sh installs it)"; exit 77; }
svc=$BALLAST_TEST_SVC
ci=$(cat "$svc/pg/conninfo")
bb=$B/ballast-backup
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dbc() { echo "${ci/dbname=postgres/dbname=$1}"; }

psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS encdb" -c "CREATE DATABASE encdb" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d "$(dbc encdb)" \
	-c "CREATE TABLE t AS SELECT g AS id, 'plaintext-marker-' || g AS v FROM generate_series(1, 20000) g" >/dev/null
mkdir -p "$tmp/vol/sub"
for i in 1 2 3; do printf 'volume-marker-%s\n' "$i" >"$tmp/vol/sub/f$i.txt"; done
head -c 300000 /dev/zero | tr '\0' 'v' >"$tmp/vol/big.bin"

age-keygen -o "$tmp/key1.txt" 2>/dev/null
age-keygen -o "$tmp/key2.txt" 2>/dev/null
age-keygen -o "$tmp/other.txt" 2>/dev/null
pub1=$(age-keygen -y "$tmp/key1.txt")
pub2=$(age-keygen -y "$tmp/key2.txt")
sec1=$(grep '^AGE-SECRET-KEY-' "$tmp/key1.txt")
PASS="pass-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export ENC_PASS=$PASS ENC_ID=$sec1

s3pre="enc-$$/"
repo_local="{ \"type\": \"local\", \"path\": \"$tmp/repo\" }"
repo_s3="{ \"type\": \"s3\", \"endpoint\": \"$(cat "$svc/s3/endpoint")\", \"region\": \"us-east-1\",
  \"bucket\": \"$(cat "$svc/s3/bucket")\", \"prefix\": \"$s3pre\", \"path_style\": true,
  \"access_key_env\": \"ENC_AK\", \"secret_key_env\": \"ENC_SK\" }"
repo_sftp="{ \"type\": \"sftp\", \"host\": \"127.0.0.1\", \"port\": $(cat "$svc/sshd/port"),
  \"user\": \"$(cat "$svc/sshd/user")\", \"key\": \"$(cat "$svc/sshd/key")\",
  \"known_hosts\": \"$(cat "$svc/sshd/known_hosts_file")\", \"host_key_policy\": \"strict\",
  \"path\": \"$tmp/sftp-repo\" }"
export ENC_AK=$(cat "$svc/s3/access_key") ENC_SK=$(cat "$svc/s3/secret_key")

cfg() { # NAME REPO ENCRYPTION-JSON
	cat >"$tmp/$1.json" <<JSON
{ "project": "enc", "state_dir": "$tmp/state-$1",
  "repository": $2,
  "encryption": $3,
  "databases": [ { "name": "app", "conninfo": "$(dbc encdb)" } ],
  "volumes": [ { "name": "files", "path": "$tmp/vol" } ] }
JSON
	# a config that cannot open the repository fails later, where the
	# test expects it to
	"$bb" --config "$tmp/$1.json" init >/dev/null 2>&1 || true
}
x25519="{ \"recipients\": [\"$pub1\", \"$pub2\"], \"identity_file\": \"$tmp/key1.txt\" }"
cfg local "$repo_local" "$x25519"
cfg s3 "$repo_s3" "$x25519"
cfg sftp "$repo_sftp" "$x25519"
logs=$tmp/logs; mkdir -p "$logs"
step() { # NAME EXPECTED_RC CMD...
	local name=$1 want=$2 rc; shift 2
	"$@" >"$logs/$name.out" 2>"$logs/$name.err"; rc=$?
	[ "$rc" = "$want" ] && t_ok || t_fail "$name exited $rc, expected $want: $(tail -3 "$logs/$name.err")"
}
latest() { "$bb" --config "$tmp/$1.json" list --json | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])'; }
rows() { psql -X -At -d "$(dbc "$1")" -c "SELECT count(*) FROM t" 2>&1; }

# -- run, list, verify, restore on each driver --
for d in local sftp s3; do
	step "run-$d" 0 "$bb" --config "$tmp/$d.json" run
	step "list-$d" 0 "$bb" --config "$tmp/$d.json" list
	step "verify-$d" 0 "$bb" --config "$tmp/$d.json" verify --all
	psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS enc_$d" -c "CREATE DATABASE enc_$d" >/dev/null 2>&1
	id=$(latest "$d")
	step "restore-$d" 0 "$bb" --config "$tmp/$d.json" restore "$id" --db app --target "$(dbc "enc_$d")"
	[ "$(rows "enc_$d")" = 20000 ] && t_ok || t_fail "$d: restored rows: $(rows "enc_$d")"
	rm -rf "$tmp/out-$d"
	step "restore-vol-$d" 0 "$bb" --config "$tmp/$d.json" restore "$id" --volume files --to "$tmp/out-$d"
	cmp -s "$tmp/vol/sub/f2.txt" "$tmp/out-$d/sub/f2.txt" && t_ok || t_fail "$d: volume file differs"
done

# -- every stored object is an age file but the plaintext index; no data
# or manifest in clear anywhere --
n=0; bad=""; nidx=0
while IFS= read -r f; do
	n=$((n + 1))
	case $(basename "$f") in
	index.json) nidx=$((nidx + 1)); continue ;;
	summary-*) continue ;;   # plaintext summaries of the reports
	esac
	[ "$(head -c 21 "$f")" = "age-encryption.org/v1" ] || bad="$bad $f"
done < <(find "$tmp/repo" -type f)
[ "$n" -ge 3 ] && t_ok || t_fail "only $n objects in the local repository"
[ "$nidx" = 1 ] && t_ok || t_fail "$nidx plaintext indexes in the local repository (expected 1)"
[ -z "$bad" ] && t_ok || t_fail "objects without an age header:$bad"
hits=$(grep -rlaF -e plaintext-marker -e volume-marker -e '"conninfo"' -e '"raw_size"' "$tmp/repo" "$tmp/sftp-repo" "$svc/s3/data" 2>/dev/null)
[ -z "$hits" ] && t_ok || t_fail "plaintext found in a repository: $hits"
# what the index reveals, and nothing more: its members are the documented ones
python3 - "$(find "$tmp/repo" -name index.json | head -1)" <<'PY' && t_ok || t_fail "the index holds undocumented members"
import json, sys
i = json.load(open(sys.argv[1]))
assert set(i) <= {"format", "id", "project", "created", "finished", "status", "labels", "size",
                  "manifest", "items"}, sorted(i)
for it in i["items"]:
    assert set(it) <= {"type", "name", "object", "start_wal", "timeline"}, sorted(it)
    assert set(it.get("object", {})) <= {"key", "stored_size", "stored_sha256"}
PY
n=$(grep -rlaF "age-encryption.org/v1" "$svc/s3/data" 2>/dev/null | wc -l)
[ "$n" -ge 3 ] && t_ok || t_fail "the s3 server holds $n age objects"

# -- ballast -> stock age: decrypt by hand, decompress, restore --
man=$(find "$tmp/repo" -name manifest.json | head -1)
bdir=$(dirname "$man")
age -d -i "$tmp/key2.txt" "$man" >"$tmp/manifest.plain" && t_ok || t_fail "age -d of the manifest"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))["items"]' "$tmp/manifest.plain" && t_ok ||
	t_fail "the decrypted manifest is not ballast's JSON"
dump=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
for it in m["items"]:
    for o in it.get("objects", []) + ([it["object"]] if "object" in it else []):
        if it["type"] == "db": print(o["key"]); sys.exit(0)' "$tmp/manifest.plain")
vol=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
for it in m["items"]:
    for o in it.get("objects", []) + ([it["object"]] if "object" in it else []):
        if it["type"] == "volume": print(o["key"]); sys.exit(0)' "$tmp/manifest.plain")
[ -n "$dump" ] && [ -n "$vol" ] && t_ok || t_fail "no db or volume object in the manifest: $(head -c 600 "$tmp/manifest.plain")"
age -d -i "$tmp/key1.txt" "$tmp/repo/$dump" | zstd -dq >"$tmp/dump.bin" && t_ok || t_fail "age -d | zstd -d of the dump"
pg_restore -l "$tmp/dump.bin" >"$tmp/toc.txt" 2>&1 && grep -q "TABLE DATA public t" "$tmp/toc.txt" && t_ok ||
	t_fail "pg_restore does not accept the hand-decrypted dump: $(head -3 "$tmp/toc.txt")"
age -d -i "$tmp/key1.txt" "$tmp/repo/$vol" | zstd -dq | tar -tf - >"$tmp/tar.txt" 2>&1 &&
	grep -q "sub/f1.txt" "$tmp/tar.txt" && t_ok || t_fail "tar does not list the hand-decrypted volume: $(head -3 "$tmp/tar.txt")"
age -d -i "$tmp/other.txt" "$man" >/dev/null 2>&1 && t_fail "age -d with a foreign key succeeded" || t_ok

# -- stock age -> ballast: objects re-encrypted by age to an X25519 recipient --
for k in "$dump" "${man#$tmp/repo/}"; do
	age -d -i "$tmp/key1.txt" "$tmp/repo/$k" | age -r "$pub1" -o "$tmp/reenc" && mv "$tmp/reenc" "$tmp/repo/$k"
done
grep -qa "ballast-recipients" "$tmp/repo/$dump" && t_fail "the dump was not replaced by age's own file" || t_ok
id=$(basename "$bdir")
# their ciphertext is no longer what the plaintext index records: a key
# host says so (exit 4), and rekey (which reads every object) refreshes it
step verify-age-stale 4 "$bb" --config "$tmp/local.json" verify "$id"
t_contains "$(cat "$logs/verify-age-stale.err")" "index.json" "hand-replaced objects: the index is named"
step rekey-age-refresh 0 "$bb" --config "$tmp/local.json" rekey
step verify-age-x25519 0 "$bb" --config "$tmp/local.json" verify "$id"
psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS enc_agecli" -c "CREATE DATABASE enc_agecli" >/dev/null 2>&1
step restore-age-x25519 0 "$bb" --config "$tmp/local.json" restore "$id" --db app --target "$(dbc enc_agecli)"
[ "$(rows enc_agecli)" = 20000 ] && t_ok || t_fail "restore of age-encrypted objects: $(rows enc_agecli)"

# -- tampering: one flipped byte in a dump fails verify (exit 4) --
cp "$tmp/repo/$dump" "$tmp/dump.keep"
python3 -c 'import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$tmp/repo/$dump"
step verify-tampered 4 "$bb" --config "$tmp/local.json" verify "$id"
cp "$tmp/dump.keep" "$tmp/repo/$dump"
# a plaintext object in an encrypted repository is refused
age -d -i "$tmp/key1.txt" "$tmp/dump.keep" >"$tmp/repo/$dump"
step verify-plaintext 4 "$bb" --config "$tmp/local.json" verify "$id"
t_contains "$(cat "$logs/verify-plaintext.err")" "not encrypted" "a plaintext object is named"
cp "$tmp/dump.keep" "$tmp/repo/$dump"

# -- restore reads check the stored bytes, on each driver: a flipped
# byte in a dump or a volume object, or a dump replaced by another
# encryption of the same bytes (it decrypts to exactly the manifest's
# plaintext, but is not what the backup stored: the index says so), is
# exit 4 naming the object, and the target database or volume is left
# as it was --
stored1() { # DRIVER KEY: an object of the first section's repositories
	case $1 in
	local) echo "$tmp/repo/$2" ;;
	sftp) echo "$tmp/sftp-repo/$2" ;;
	s3) echo "$svc/s3/data/$(cat "$svc/s3/bucket")/${s3pre}$2._S3rver_object" ;;
	esac
}
flip() { python3 -c 'import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$1"; }
for d in local sftp s3; do
	id=$(latest "$d")
	idx=$(stored1 $d "enc/backups/$id/index.json")
	okey() { python3 -c 'import json,sys
for it in json.load(open(sys.argv[1]))["items"]:
    if it["type"] == sys.argv[2]: print(it["object"]["key"])' "$idx" "$1"; }
	dkey=$(okey db); vkey=$(okey volume)
	psql -X -q -d "$ci" -c "DROP DATABASE IF EXISTS enc_keep_$d" -c "CREATE DATABASE enc_keep_$d" >/dev/null 2>&1
	psql -X -q -d "$(dbc "enc_keep_$d")" -c "CREATE TABLE keepme AS SELECT 7 AS v" >/dev/null
	untouched() { [ "$(psql -X -At -d "$(dbc "enc_keep_$d")" -c "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")" = keepme ]; }
	rm -rf "$tmp/vt-$d"; mkdir -p "$tmp/vt-$d"; echo old >"$tmp/vt-$d/marker"
	f=$(stored1 $d "$dkey"); cp "$f" "$tmp/obj.keep"
	flip "$f"
	step "restore-flip-db-$d" 4 "$bb" --config "$tmp/$d.json" restore "$id" --db app --target "$(dbc "enc_keep_$d")" --clean --yes
	t_contains "$(cat "$logs/restore-flip-db-$d.err")" "$dkey" "$d: a flipped dump byte: restore names the object"
	untouched && t_ok || t_fail "$d: a refused restore changed the target database"
	# another encryption of the same zstd bytes (as stock age writes it)
	age -d -i "$tmp/key1.txt" "$tmp/obj.keep" | age -r "$pub1" -o "$tmp/reenc" && cp "$tmp/reenc" "$f"
	step "restore-reenc-db-$d" 4 "$bb" --config "$tmp/$d.json" restore "$id" --db app --target "$(dbc "enc_keep_$d")" --clean --yes
	t_contains "$(cat "$logs/restore-reenc-db-$d.err")" "backup $id: index.json: object $dkey" "$d: a replaced dump: restore names the backup, the index and the object"
	untouched && t_ok || t_fail "$d: a refused restore changed the target database"
	cp "$tmp/obj.keep" "$f"
	f=$(stored1 $d "$vkey"); cp "$f" "$tmp/obj.keep"
	flip "$f"
	step "restore-flip-vol-$d" 4 "$bb" --config "$tmp/$d.json" restore "$id" --volume files --to "$tmp/vt-$d" --yes
	t_contains "$(cat "$logs/restore-flip-vol-$d.err")" "$vkey" "$d: a flipped volume byte: restore names the object"
	age -d -i "$tmp/key1.txt" "$tmp/obj.keep" | age -r "$pub1" -o "$tmp/reenc" && cp "$tmp/reenc" "$f"
	step "restore-reenc-vol-$d" 4 "$bb" --config "$tmp/$d.json" restore "$id" --volume files --to "$tmp/vt-$d" --yes
	t_contains "$(cat "$logs/restore-reenc-vol-$d.err")" "index.json: object $vkey" "$d: a replaced volume object: restore names it"
	[ "$(ls "$tmp/vt-$d")" = marker ] && [ "$(cat "$tmp/vt-$d/marker")" = old ] && t_ok ||
		t_fail "$d: a refused volume restore changed the target: $(ls "$tmp/vt-$d")"
	cp "$tmp/obj.keep" "$f"
	step "restore-vol-again-$d" 0 "$bb" --config "$tmp/$d.json" restore "$id" --volume files --to "$tmp/vt-$d" --yes
	cmp -s "$tmp/vol/sub/f2.txt" "$tmp/vt-$d/sub/f2.txt" && t_ok || t_fail "$d: the volume restored after the repair differs"
done

# -- write-only host: public keys only, on each driver --
# A key host (identity) and a write-only host (recipients only) share each
# repository: the write-only host runs, lists, prunes (keep labels and
# drill results honoured) and checksum-verifies from the plaintext index;
# the key host detects a tampered index (exit 4, naming the field).
cfgr() { # NAME REPO ENCRYPTION-JSON: with retention keep_last 1
	cat >"$tmp/$1.json" <<JSON
{ "project": "$1", "state_dir": "$tmp/state-$1",
  "repository": $2,
  "encryption": $3,
  "retention": { "keep_last": 1, "incomplete_grace": "0s" },
  "databases": [ { "name": "app", "conninfo": "$(dbc encdb)" } ] }
JSON
}
jq_list() { # CONFIG PYTHON-EXPR over the list of backups b
	"$bb" --config "$tmp/$1.json" list --json 2>/dev/null | python3 -c "import json,sys
b = json.load(sys.stdin)['backups']
print($2)"
}
stored() { # DRIVER KEY: the stored object's path on this machine
	case $1 in
	local) echo "$tmp/repo-w$1/$2" ;;
	sftp) echo "$tmp/sftp-w$1/$2" ;;
	s3) echo "$svc/s3/data/$(cat "$svc/s3/bucket")/${s3pre}w$1/$2._S3rver_object" ;;
	esac
}
for d in local sftp s3; do
	case $d in
	local) r="{ \"type\": \"local\", \"path\": \"$tmp/repo-w$d\" }" ;;
	sftp) r=${repo_sftp/sftp-repo/sftp-w$d} ;;
	s3) r=${repo_s3/\"prefix\": \"$s3pre\"/\"prefix\": \"${s3pre}w$d/\"} ;;
	esac
	p=w$d
	cfgr "$p" "$r" "{ \"recipients\": [\"$pub1\"], \"identity_file\": \"$tmp/key1.txt\" }"
	cp "$tmp/$p.json" "$tmp/$p-key.json"
	cfgr "$p" "$r" "{ \"recipients\": [\"$pub1\", \"$pub2\"] }"
	step "init-$p" 0 "$bb" --config "$tmp/$p.json" init
	step "run1-$p" 0 "$bb" --config "$tmp/$p.json" run --label keep=true --label tag=first
	step "run2-$p" 0 "$bb" --config "$tmp/$p.json" run
	step "drill-$p" 0 "$bb" --config "$tmp/$p-key.json" drill --latest
	step "run3-$p" 0 "$bb" --config "$tmp/$p.json" run
	step "list-$p" 0 "$bb" --config "$tmp/$p.json" list
	[ "$(jq_list "$p" '" ".join(x["status"] for x in b)')" = "good good good" ] && t_ok ||
		t_fail "$d: write-only list: $(jq_list "$p" 'b')"
	[ "$(jq_list "$p" 'b[0]["labels"].get("tag")')" = first ] && t_ok || t_fail "$d: labels not listed"
	[ "$(jq_list "$p" 'b[0]["items"][0]["name"]')" = app ] && t_ok || t_fail "$d: items not listed"
	ids=$(jq_list "$p" '" ".join(x["id"] for x in b)'); set -- $ids; id1=$1 id2=$2 id3=$3
	step "verify-$p" 0 "$bb" -v --config "$tmp/$p.json" verify --all
	# show without an identity: the index, saying what it lacks
	step "show-$p" 0 "$bb" --config "$tmp/$p.json" show "$id1"
	t_contains "$(cat "$logs/show-$p.out")" "manifest encrypted (no identity here)" "$d: write-only show says the manifest is encrypted"
	t_contains "$(cat "$logs/show-$p.out")" "not available: host" "$d: write-only show names what is not available"
	t_contains "$(cat "$logs/show-$p.out")" "label    tag=first" "$d: write-only show prints the labels"
	t_contains "$(cat "$logs/show-$p.out")" "$p/backups/$id1/db-app" "$d: write-only show prints the objects"
	"$bb" --config "$tmp/$p.json" --json show "$id1" 2>/dev/null | tail -n1 | python3 -c 'import json,sys
r = json.load(sys.stdin); assert r["manifest"] is None and r["index"]["id"] == sys.argv[1] and r["unavailable"], r' "$id1" &&
		t_ok || t_fail "$d: write-only show --json"
	t_contains "$(cat "$logs/verify-$p.err")" "match the index" "$d: a write-only verify checks the ciphertext"
	# prune without an identity: the keep label (id1), the drill (id2) and
	# the newest (id3) all stay
	step "prune-$p" 0 "$bb" --config "$tmp/$p.json" prune
	[ "$(jq_list "$p" 'len(b)')" = 3 ] && t_ok || t_fail "$d: write-only prune removed a kept backup: $(cat "$logs/prune-$p.out")"
	step "run4-$p" 0 "$bb" --config "$tmp/$p.json" run
	step "prune2-$p" 0 "$bb" --config "$tmp/$p.json" prune
	[ "$(jq_list "$p" '" ".join(x["id"] for x in b[:3])')" = "$id1 $id2 $id3" ] && t_fail "$d: prune kept id3" || t_ok
	[ "$(jq_list "$p" '" ".join(x["id"] for x in b[:2])')" = "$id1 $id2" ] && t_ok ||
		t_fail "$d: write-only prune: $(jq_list "$p" '[x["id"] for x in b]') (expected $id1 $id2 and the newest)"
	step "list-key-$p" 0 "$bb" --config "$tmp/$p-key.json" list
	[ "$(jq_list "$p-key" '" ".join(x["status"] for x in b)')" = "good good good" ] && t_ok ||
		t_fail "$d: key host list: $(jq_list "$p-key" 'b')"
	step "verify-key-$p" 0 "$bb" --config "$tmp/$p-key.json" verify --all
	# a flipped ciphertext byte: the write-only verify exits 4 naming the object
	dkey=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["object"]["key"])' "$(stored $d "$p/backups/$id2/index.json")")
	f=$(stored $d "$dkey"); cp "$f" "$tmp/keep.bin"
	python3 -c 'import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$f"
	step "verify-flip-$p" 4 "$bb" --config "$tmp/$p.json" verify "$id2"
	t_contains "$(cat "$logs/verify-flip-$p.err")" "$dkey" "$d: the damaged object is named"
	cp "$tmp/keep.bin" "$f"
	step "verify-unflip-$p" 0 "$bb" --config "$tmp/$p.json" verify "$id2"
	# a tampered index: the keep label removed. The write-only host cannot
	# tell; the key host's list, verify and restore refuse it (exit 4).
	f=$(stored $d "$p/backups/$id1/index.json"); cp "$f" "$tmp/index.keep"
	python3 -c 'import json,sys
p = sys.argv[1]; i = json.load(open(p)); del i["labels"]["keep"]; open(p, "w").write(json.dumps(i, separators=(",", ":")))' "$f"
	[ "$(jq_list "$p-key" 'b[0]["status"]')" = failed-verify ] && t_ok || t_fail "$d: a tampered index lists as $(jq_list "$p-key" 'b[0]')"
	t_contains "$(jq_list "$p-key" 'b[0]["error"]')" "labels" "$d: the tampered field is named"
	step "verify-tamper-$p" 4 "$bb" --config "$tmp/$p-key.json" verify "$id1"
	t_contains "$(cat "$logs/verify-tamper-$p.err")" "index.json" "$d: verify names the index"
	cp "$tmp/index.keep" "$f"
	# a tampered stored hash: the key host's verify reads the ciphertext and refuses
	python3 -c 'import json,sys
p = sys.argv[1]; i = json.load(open(p)); o = i["items"][0]["object"]
o["stored_sha256"] = ("0" if o["stored_sha256"][0] != "0" else "1") + o["stored_sha256"][1:]
open(p, "w").write(json.dumps(i, separators=(",", ":")))' "$f"
	step "verify-tamper-hash-$p" 4 "$bb" --config "$tmp/$p-key.json" verify "$id1"
	t_contains "$(cat "$logs/verify-tamper-hash-$p.err")" "stored sha256" "$d: a wrong stored hash is named"
	cp "$tmp/index.keep" "$f"
	# the index missing: the write-only host lists it as unindexed and
	# keeps it; the key host sees an unfinished commit
	f=$(stored $d "$p/backups/$id2/index.json"); cp "$f" "$tmp/index.keep"
	meta=${f%._S3rver_object}._S3rver_metadata.json
	[ -e "$meta" ] && cp "$meta" "$tmp/meta.keep"
	rm -f "$f" "$tmp/nometa"; [ -e "$meta" ] && mv "$meta" "$tmp/nometa"
	[ "$(jq_list "$p" 'b[1]["status"]')" = unindexed ] && t_ok || t_fail "$d: no index lists as $(jq_list "$p" 'b[1]')"
	# (really pruning: an unindexed backup older than the newest good one
	# may still be the only copy of something; docs/DECISIONS.md)
	step "prune-noindex-$p" 0 "$bb" --config "$tmp/$p.json" prune --dry-run
	t_contains "$(cat "$logs/prune-noindex-$p.out")" "no plaintext index" "$d: prune keeps an unindexed backup"
	step "prune-noindex-real-$p" 0 "$bb" --config "$tmp/$p.json" prune
	[ "$(jq_list "$p" 'b[1]["id"]')" = "$id2" ] && t_ok || t_fail "$d: a write-only prune removed an unindexed backup"
	step "show-noindex-$p" 1 "$bb" --config "$tmp/$p.json" show "$id2"
	t_contains "$(cat "$logs/show-noindex-$p.err")" "no plaintext index" "$d: write-only show of an unindexed backup"
	step "verify-noindex-$p" 1 "$bb" --config "$tmp/$p.json" verify "$id2"
	[ "$(jq_list "$p-key" 'b[1]["status"]')" = incomplete ] && t_ok || t_fail "$d: the key host lists a missing index as $(jq_list "$p-key" 'b[1]')"
	cp "$tmp/index.keep" "$f"; [ -e "$tmp/nometa" ] && mv "$tmp/nometa" "$meta"
	[ "$(jq_list "$p-key" 'b[1]["status"]')" = good ] && t_ok || t_fail "$d: the restored index: $(jq_list "$p-key" 'b[1]')"
	# a removal interrupted after its first step (the manifest goes first,
	# then the index): incomplete on both hosts, and a write-only prune
	# finishes it
	f=$(stored $d "$p/backups/$id1/manifest.json")
	rm -f "$f" "${f%._S3rver_object}"._S3rver_*
	[ "$(jq_list "$p" 'b[0]["status"]')" = incomplete ] && t_ok || t_fail "$d: a half-removed backup lists as $(jq_list "$p" 'b[0]')"
	[ "$(jq_list "$p-key" 'b[0]["status"]')" = incomplete ] && t_ok || t_fail "$d: a half-removed backup lists on the key host as $(jq_list "$p-key" 'b[0]')"
	step "prune-half-$p" 0 "$bb" --config "$tmp/$p.json" prune
	[ "$(jq_list "$p" '" ".join(x["id"] for x in b[:1])')" = "$id2" ] && t_ok || t_fail "$d: a write-only prune left the half-removed backup: $(jq_list "$p" '[x["id"] for x in b]')"
	[ -z "$(ls "$(dirname "$f")" 2>/dev/null)" ] && t_ok || t_fail "$d: objects of the half-removed backup remain: $(ls "$(dirname "$f")")"
done
# a missing identity on a read names the key that would open the backup
cfg wo "$repo_local" "{ \"recipients\": [\"$pub1\", \"$pub2\"] }"
step run-wo 0 "$bb" --config "$tmp/wo.json" run
step list-wo 0 "$bb" --config "$tmp/wo.json" list
step restore-wo 1 "$bb" --config "$tmp/wo.json" restore "$(latest wo)" --db app --target "$(dbc enc_wo)"
t_contains "$(cat "$logs/restore-wo.err")" "$pub1" "a missing identity names the key that would open it"
t_lines "$(cat "$logs/restore-wo.err")" 1 "the missing-identity error"

# -- identity_command and identity_env --
cfg cmd "$repo_local" "{ \"recipients\": [\"$pub1\"], \"identity_command\": [\"cat\", \"$tmp/key1.txt\"] }"
step verify-cmd 0 "$bb" --config "$tmp/cmd.json" verify --all
cfg cmdbad "$repo_local" "{ \"recipients\": [\"$pub1\"], \"identity_command\": [\"false\"] }"
step run-cmdbad 0 "$bb" --config "$tmp/cmdbad.json" run
step verify-cmdbad 1 "$bb" --config "$tmp/cmdbad.json" verify --all
t_contains "$(cat "$logs/verify-cmdbad.err")" "identity_command" "a failing identity_command is named"
cfg idenv "$repo_local" "{ \"recipients\": [\"$pub1\"], \"identity_env\": \"ENC_ID\" }"
step verify-idenv 0 "$bb" --config "$tmp/idenv.json" verify --all

# -- fail closed: nothing stored with an unusable key --
before=$(find "$tmp/repo" -type f | wc -l)
cfg badrecip "$repo_local" '{ "recipients": ["age1notakey"] }'
step run-badrecip 2 "$bb" --config "$tmp/badrecip.json" run
t_contains "$(cat "$logs/run-badrecip.err")" "encryption.recipients[0]" "a bad recipient is named"
cfg nopass "$repo_local" '{ "passphrase_env": "ENC_UNSET_PASSPHRASE" }'
step run-nopass 2 "$bb" --config "$tmp/nopass.json" run
t_contains "$(cat "$logs/run-nopass.err")" "ENC_UNSET_PASSPHRASE" "an unset passphrase_env is named"
cfg readonly "$repo_local" "{ \"identity_file\": \"$tmp/key1.txt\" }"
step run-readonly 2 "$bb" --config "$tmp/readonly.json" run
cfg badid "$repo_local" "{ \"recipients\": [\"$pub1\"], \"identity_file\": \"$tmp/missing.txt\" }"
step run-badid 2 "$bb" --config "$tmp/badid.json" run
after=$(find "$tmp/repo" -type f | wc -l)
[ "$before" = "$after" ] && t_ok || t_fail "a refused run stored objects ($before -> $after)"

# -- passphrase (scrypt): ballast <-> age, driving age's prompt through a pty --
agepty() { # PASSPHRASE ARGS...: run age with the passphrase typed at its prompt
	AGEPTY_PASS=$1 python3 - "${@:2}" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age"] + sys.argv[1:])
buf = b""
typed = 0
while True:
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    buf += d
    while typed < 2 and buf.lower().count(b"passphrase") > typed:
        os.write(fd, os.environ["AGEPTY_PASS"].encode() + b"\n")
        typed += 1
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
PY
}
cfg pass "{ \"type\": \"local\", \"path\": \"$tmp/repo-pass\" }" '{ "passphrase_env": "ENC_PASS" }'
step run-pass 0 "$bb" --config "$tmp/pass.json" run
step verify-pass 0 "$bb" --config "$tmp/pass.json" verify --all
pman=$(find "$tmp/repo-pass" -name manifest.json | head -1)
grep -qa -- "-> scrypt " "$pman" && t_ok || t_fail "the passphrase manifest has no scrypt stanza"
agepty "$PASS" -d -o "$tmp/pman.plain" "$pman" >/dev/null 2>&1 && t_ok || t_fail "age -d of a passphrase object"
grep -q '"items"' "$tmp/pman.plain" 2>/dev/null && t_ok || t_fail "age -d did not yield the manifest"
age -d -i "$tmp/key1.txt" "$pman" >/dev/null 2>&1 && t_fail "an X25519 key opened a passphrase object" || t_ok
# age encrypts with the passphrase; ballast reads it. The replaced
# manifest no longer matches the plaintext index (a passphrase repository
# cannot be rekeyed to refresh it), so it is made what a backup written
# before the index looks like: no "index" member, no index.json. Such a
# backup keeps working on a host with the key.
agepty "$PASS" -p -o "$tmp/pman.age" "$tmp/pman.plain" >/dev/null 2>&1 && mv "$tmp/pman.age" "$pman" && t_ok ||
	t_fail "age -p did not encrypt"
step verify-pass-stale 4 "$bb" --config "$tmp/pass.json" verify --all
python3 - "$tmp/pman.plain" <<'PY'
import hashlib, json, sys
p = sys.argv[1]; m = json.load(open(p))
del m["index"], m["checksum"]
text = json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
m["checksum"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
open(p, "w").write(json.dumps(m, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
PY
agepty "$PASS" -p -o "$tmp/pman.age" "$tmp/pman.plain" >/dev/null 2>&1 && mv "$tmp/pman.age" "$pman" &&
	rm "$(dirname "$pman")/index.json" && t_ok || t_fail "age -p did not encrypt the older-format manifest"
step verify-pass-agecli 0 "$bb" --config "$tmp/pass.json" verify --all
python3 -c 'import json,sys; b = json.load(sys.stdin)["backups"]; assert [x["status"] for x in b] == ["good"], b' \
	< <("$bb" --config "$tmp/pass.json" list --json) && t_ok || t_fail "a backup without an index is not listed as good"
ENC_PASS=wrong-$PASS step verify-pass-wrong 1 "$bb" --config "$tmp/pass.json" verify --all
t_contains "$(cat "$logs/verify-pass-wrong.err")" "passphrase" "a wrong passphrase says a passphrase is needed"

# -- key rotation: rekey rewraps every object for the new recipients only --
payload_of() { python3 -c 'import sys
b = open(sys.argv[1], "rb").read(); i = b.index(b"\n---") + 1; import hashlib; print(hashlib.sha256(b[b.index(b"\n", i) + 1:]).hexdigest())' "$1"; }
before_payload=$(payload_of "$tmp/repo/$dump")
cfg rot "$repo_local" "{ \"recipients\": [\"$pub2\"], \"identity_file\": \"$tmp/key1.txt\" }"
step rekey 0 "$bb" --config "$tmp/rot.json" rekey
t_contains "$(cat "$logs/rekey.out")" "rekeyed" "rekey reports what it did"
[ "$(payload_of "$tmp/repo/$dump")" = "$before_payload" ] && t_ok || t_fail "rekey changed the payload bytes"
age -d -i "$tmp/key1.txt" "$tmp/repo/$dump" >/dev/null 2>&1 && t_fail "the old key still opens a rekeyed object" || t_ok
age -d -i "$tmp/key2.txt" "$tmp/repo/$dump" | zstd -dq | pg_restore -l >/dev/null 2>&1 && t_ok ||
	t_fail "the new key does not open a rekeyed dump"
cfg k2 "$repo_local" "{ \"recipients\": [\"$pub2\"], \"identity_file\": \"$tmp/key2.txt\" }"
step verify-rekeyed 0 "$bb" --config "$tmp/k2.json" verify --all
step rekey-again 0 "$bb" --config "$tmp/k2.json" rekey
t_contains "$(cat "$logs/rekey-again.out")" "rekeyed 0 of" "a second rekey rewrites nothing"
ls "$tmp/repo/enc/rekey/"rekey-*.json >/dev/null 2>&1 && t_ok || t_fail "no rekey record in the repository"
step rekey-plain 2 "$bb" --config "$tmp/wo.json" rekey --bogus

# -- a physical database on a write-only host (local driver): the index
# records each base backup's first WAL file, so prune removes the WAL the
# kept base backups do not need and keeps what they do; restore --pitr
# refuses a base backup whose stored bytes are not the index's, leaving
# the data directory as it was --
PGDIR=$tmp/pg
BINDIR=
for v in 17 16 15; do [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && { BINDIR=/usr/lib/postgresql/$v/bin; break; }; done
chmod 755 "$tmp"
PG_INITDB_OPTS="--wal-segsize=1" PG_EXTRA_OPTS="-c archive_mode=on -c wal_level=replica" \
	"$S/tests/services/pg.sh" start "$PGDIR" >/dev/null || { t_fail "pg.sh start"; t_done; }
trap '"$S/tests/services/pg.sh" stop "$PGDIR" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
PGPORT=$(cat "$PGDIR/port")
OWNER=$(stat -c %U "$PGDIR/data")
pq() { psql -X -At -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -c "$1"; }
cfgp() { # NAME ENCRYPTION-JSON
	cat >"$tmp/$1.json" <<JSON
{ "project": "phys", "state_dir": "$tmp/state-phys",
  "repository": { "type": "local", "path": "$tmp/repo-phys" },
  "encryption": $2,
  "retention": { "keep_last": 1 },
  "databases": [ { "name": "main", "mode": "physical", "pg_bindir": "$BINDIR",
                   "conninfo": "host=$PGDIR port=$PGPORT user=postgres dbname=postgres" } ] }
JSON
	chmod 644 "$tmp/$1.json"
}
cfgp phys "{ \"recipients\": [\"$pub1\"] }"
cfgp phys-key "{ \"recipients\": [\"$pub1\"], \"identity_file\": \"$tmp/key1.txt\" }"
mkdir -p "$tmp/repo-phys" "$tmp/state-phys"
step init-phys 0 "$bb" --config "$tmp/phys.json" init
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$tmp/repo-phys/phys" "$tmp/state-phys"
pq "ALTER SYSTEM SET archive_command = '$bb --config $tmp/phys.json wal-push %p'" >/dev/null
pq "SELECT pg_reload_conf()" >/dev/null
# switch: write, switch segments, and wait until the archive has the last one
switch() {
	local seg
	pq "CREATE TABLE IF NOT EXISTS w (v int); INSERT INTO w SELECT generate_series(1, 2000)" >/dev/null 2>&1
	seg=$(pq "SELECT pg_walfile_name(pg_switch_wal())")
	for _ in $(seq 1 300); do
		[ "$(pq "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")" = t ] && return 0
		sleep 0.1
	done
	echo "    $seg not archived: $(pq "SELECT * FROM pg_stat_archiver")" >&2
}
walfiles() { find "$tmp/repo-phys/phys/wal/main" -type f -name '0*' ! -name '*.tmp-*' | sed 's|.*/||' | cut -c1-24 | sort -u; }
switch; switch
step run-phys1 0 "$bb" --config "$tmp/phys.json" run
switch; switch; switch
step run-phys2 0 "$bb" --config "$tmp/phys.json" run
switch; switch
pids=$(jq_list phys '" ".join(x["id"] for x in b)'); set -- $pids; pid1=$1 pid2=$2
start2=$(python3 -c 'import json,sys
for it in json.load(open(sys.argv[1]))["items"]:
    if it["type"] == "basebackup": print(it["start_wal"], it["timeline"])' "$tmp/repo-phys/phys/backups/$pid2/index.json")
set -- $start2; start2=$1
[ "${#start2}" = 24 ] && [ "$2" = 1 ] && t_ok || t_fail "the index does not record the base backup's start WAL file and timeline: $start2 $2"
before=$(walfiles | wc -l)
older=$(walfiles | awk -v s="$start2" 'substr($0, 9) < substr(s, 9)' | wc -l)
[ "$older" -ge 2 ] && t_ok || t_fail "only $older WAL files before $start2 to prune (of $before)"
# show without an identity: the base backup's timeline and first WAL file
step show-phys 0 "$bb" --config "$tmp/phys.json" show "$pid2"
t_contains "$(cat "$logs/show-phys.out")" "timeline 1, WAL from $start2" "write-only show prints the base backup's WAL start"
step prune-phys-dry 0 "$bb" --config "$tmp/phys.json" prune --dry-run
t_contains "$(cat "$logs/prune-phys-dry.out")" "files before $start2 (before the earliest kept base backup" "write-only prune plans the WAL older than the kept base backup"
step prune-phys 0 "$bb" --config "$tmp/phys.json" prune
[ "$(jq_list phys '" ".join(x["id"] for x in b)')" = "$pid2" ] && t_ok || t_fail "write-only prune of the base backups: $(jq_list phys '[x["id"] for x in b]')"
[ "$(walfiles | awk -v s="$start2" 'substr($0, 9) < substr(s, 9)' | wc -l)" = 0 ] && t_ok || t_fail "WAL before $start2 was kept: $(walfiles | head -3)"
walfiles | grep -qx "$start2" && t_ok || t_fail "the kept base backup's first WAL file $start2 was removed"
[ "$(walfiles | wc -l)" -gt 1 ] && t_ok || t_fail "the WAL after $start2 was removed: $(walfiles)"
# the kept backup is whole: the key host verifies it and its WAL
step verify-phys 0 "$bb" --config "$tmp/phys-key.json" verify --all
# a tampered start_wal: the key host's verify names the field
f=$tmp/repo-phys/phys/backups/$pid2/index.json; cp "$f" "$tmp/index.keep"
python3 -c 'import json,sys
p = sys.argv[1]; i = json.load(open(p))
for it in i["items"]:
    if it["type"] == "basebackup": it["start_wal"] = it["start_wal"][:16] + "000000FF"
open(p, "w").write(json.dumps(i, separators=(",", ":")))' "$f"
step verify-phys-tamper 4 "$bb" --config "$tmp/phys-key.json" verify "$pid2"
t_contains "$(cat "$logs/verify-phys-tamper.err")" "start_wal" "a tampered start_wal is named"
cp "$tmp/index.keep" "$f"
step verify-phys-again 0 "$bb" --config "$tmp/phys-key.json" verify "$pid2"   # good again
# restore --pitr from a base backup whose stored bytes are another
# encryption of the same tar: exit 4 naming the object, DIR unchanged
bkey=$(python3 -c 'import json,sys
for it in json.load(open(sys.argv[1]))["items"]:
    if it["type"] == "basebackup": print(it["object"]["key"])' "$f")
o=$tmp/repo-phys/$bkey; cp -p "$o" "$tmp/base.keep"
age -d -i "$tmp/key1.txt" "$tmp/base.keep" | age -r "$pub1" -o "$tmp/reenc" && cat "$tmp/reenc" >"$o"
mkdir -p "$tmp/pitr-dir"; echo old >"$tmp/pitr-dir/marker"
[ "$(id -u)" = 0 ] && chown -R "$OWNER" "$tmp/pitr-dir"   # postgres never runs as root
step restore-pitr-reenc 4 "$bb" --config "$tmp/phys-key.json" restore --pitr --db main --data-dir "$tmp/pitr-dir" --latest
t_contains "$(cat "$logs/restore-pitr-reenc.err")" "index.json: object $bkey" "restore --pitr names the replaced base backup"
[ "$(ls "$tmp/pitr-dir")" = marker ] && [ "$(cat "$tmp/pitr-dir/marker")" = old ] && t_ok ||
	t_fail "a refused restore --pitr changed the data directory: $(ls "$tmp/pitr-dir")"
cp -p "$tmp/base.keep" "$o"

# -- secrets never in output or the repositories --
for secret in "$PASS" "$sec1" "$(grep '^AGE-SECRET-KEY-' "$tmp/key2.txt")"; do
	hits=$(grep -rlaF -- "$secret" "$logs" "$tmp/repo" "$tmp/repo-pass" "$tmp/sftp-repo" "$svc/s3/data" "$tmp"/state-* 2>/dev/null)
	[ -z "$hits" ] && t_ok || t_fail "a secret was written to: $hits"
done

t_done

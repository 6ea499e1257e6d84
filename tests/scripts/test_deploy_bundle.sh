#!/usr/bin/env bash
# services: sshd http
# Release bundles with the stand-in compose (no container engine): what a
# deploy records under .ballast/releases/<release>/ (every file hashed in
# bundle.json, the env file 0600, pinned.yml with the digests), that state
# and history name it, that compose runs from it, that a half-written or
# altered bundle is refused before anything changes, `releases`, and the
# retention that never drops the current or the previous release; and
# `deploy --bundle` (a CI-built directory or tarball, local and over ssh):
# its compose file is the one that runs, it is staged before the lock and
# app_dir stays as it is, hostile archives are refused naming the entry, and
# a staging left by a killed run is removed by the next deploy. (Real
# containers: test_deploy_docker.sh.)
. "$(dirname "$0")/deploy_lib.sh"

bundle() { printf '%s/.ballast/releases/%s' "$APP" "$1"; }
ne() { [ "$1" != "$2" ] || { echo "    expected something else than [$2]" >&2; return 1; }; }
calls() { wc -l < "$STANDIN/calls.jsonl"; }
last_up() { grep '"up"' "$STANDIN/calls.jsonl" | tail -n1; }

EXTRA=', "releases_keep": 2' new_env bundle
run_deploy deploy qa --release v1
t_check "first deploy exits 0" eq "$RC" 0
B1=$(bundle v1)
t_check "bundle.json is there" test -f "$B1/bundle.json"
t_check "bundle.json names the release" eq "$(json "$B1/bundle.json" .release)" v1
t_check "the compose file is kept as deployed" cmp "$APP/docker-compose.yml" "$B1/compose/docker-compose.yml"
t_check "the env file is kept as deployed" cmp "$APP/.env.qa" "$B1/env"
t_check "the env file's copy is 0600" eq "$(stat -c %a "$B1/env")" 600
t_check "the environment section is kept unexpanded" eq "$(json "$B1/environment.json" .releases_keep)" 2
t_check "the index holds no secret" lacks "$(cat "$B1/bundle.json")" "$SECRET"
# every file of the index, hashed again here
bad=
for f in $(jq -r '.files | keys[]' "$B1/bundle.json"); do
	[ "$(sha256sum < "$B1/$f" | cut -c1-64)" = "$(jq -r --arg f "$f" '.files[$f].sha256' "$B1/bundle.json")" ] || bad="$bad $f"
done
t_check "every file's sha256 in bundle.json matches" eq "$bad" ""
t_check "the index lists compose, env, environment and the override" eq \
	"$(jq -r '.files | keys | join(" ")' "$B1/bundle.json")" \
	"compose/docker-compose.yml env environment.json pinned.yml"
D1=$(json "$B1/bundle.json" .services.backend.digest)
t_check "the backend's digest is recorded" contains "$D1" "example/backend@sha256:"
t_check "pinned.yml pins the backend to it" contains "$(cat "$B1/pinned.yml")" "image: \"$D1\""
t_check "up ran with the bundle's compose file and pinned.yml" contains "$(last_up)" \
	"\"-f\",\"$B1/compose/docker-compose.yml\",\"-f\",\"$B1/pinned.yml\""
t_check "state.json names the bundle" eq "$(json "$APP/.ballast/state.json" .bundle.dir)" "$B1"
t_check "state.json has the index's sha256" eq "$(json "$APP/.ballast/state.json" .bundle.sha256)" "$(sha256sum < "$B1/bundle.json" | cut -c1-64)"
t_check "history names the bundle" eq "$(last_history .bundle.dir)" "$B1"

# A new release with a changed compose file; then the tag v1 is re-pushed
# (the stand-in's engine now resolves it to other bytes).
printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n  extra:\n    image: ${BACKEND_IMAGE}\n' > "$APP/docker-compose.yml"
run_deploy deploy qa --release v2
t_check "second deploy exits 0" eq "$RC" 0
t_check "v1's bundle keeps the old compose file" lacks "$(cat "$B1/compose/docker-compose.yml")" extra
t_check "state.json names v1's bundle as the previous one" eq "$(json "$APP/.ballast/state.json" .previous_bundle.dir)" "$B1"
mkdir -p "$STANDIN/images"
echo "sha256:$(printf 'repushed' | sha256sum | cut -c1-64)" > "$STANDIN/images/example_backend:v1"
run_deploy rollback qa
t_check "rollback to v1 exits 0" eq "$RC" 0
t_check "the rollback ran v1's bundle, pinned" contains "$(last_up)" \
	"\"-f\",\"$B1/compose/docker-compose.yml\",\"-f\",\"$B1/pinned.yml\",\"--env-file\",\"$B1/env\""
t_check "the rollback did not re-resolve the re-pushed tag" eq "$(json "$B1/bundle.json" .services.backend.digest)" "$D1"
t_check "rollback: history names v1's bundle" eq "$(last_history '"\(.action) \(.to) \(.bundle.dir)"')" "rollback v1 $B1"

# ---- an altered bundle is refused before anything changes ----
run_deploy deploy qa --release v2
cp "$B1/compose/docker-compose.yml" "$WORK/v1-compose.yml"
echo "# changed by hand" >> "$B1/compose/docker-compose.yml"
n=$(calls)
run_deploy rollback qa --to v1
t_check "an altered bundle: exit 4" eq "$RC" 4
t_check "an altered bundle: the file is named" contains "$ERR" "compose/docker-compose.yml: sha256"
t_check "an altered bundle: no compose command ran" eq "$(calls)" "$n"
t_check "an altered bundle: still on v2" eq "$(state_release) $(health_release)" "v2 v2"
t_check "an altered bundle: the lock is released" test ! -e "$APP/.ballast/lock"
cp "$WORK/v1-compose.yml" "$B1/compose/docker-compose.yml"

# ---- a half-written bundle: a redeploy of v1 whose pull fails has already
# taken v1's index away, so the half-rewritten bundle is never used ----
touch "$STANDIN/fail-pull-v1"
run_deploy deploy qa --release v1
t_check "a redeploy of v1 with a failed pull aborts" eq "$RC" 1
t_check "v1's bundle has no index while it is rewritten" test ! -e "$B1/bundle.json"
rm "$STANDIN/fail-pull-v1"
n=$(calls)
run_deploy rollback qa --to v1
t_check "a half-written bundle: exit 4" eq "$RC" 4
t_check "a half-written bundle: says it is incomplete" contains "$ERR" "incomplete (no bundle.json)"
t_check "a half-written bundle: no compose command ran" eq "$(calls)" "$n"
run_deploy deploy qa --release v1
t_check "v1 deployed again" eq "$RC $(state_release) $(json "$APP/.ballast/state.json" .previous_release)" "0 v1 v2"
t_check "v1's bundle has a new digest (the re-pushed tag)" ne "$(json "$B1/bundle.json" .services.backend.digest)" "$D1"
touch "$STANDIN/fail-pull-v3"
run_deploy deploy qa --release v3
rm "$STANDIN/fail-pull-v3"

# ---- releases and retention (releases_keep 2) ----
run_deploy releases qa --json
t_check "releases --json lists v1, v2 and the incomplete v3" eq \
	"$(printf '%s' "$OUT" | tail -n1 | jq -r '[.releases[] | "\(.release):\(.complete)"] | sort | join(" ")')" "v1:true v2:true v3:false"
t_check "releases --json: v1 is current" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r '.releases[] | select(.release == "v1") | .current')" true
t_check "releases --json: v1's digest" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r '.releases[] | select(.release == "v1") | .services.backend.digest')" "$(json "$B1/bundle.json" .services.backend.digest)"
t_check "releases --json: v2's result" eq "$(printf '%s' "$OUT" | tail -n1 | jq -r '.releases[] | select(.release == "v2") | .result')" deployed
run_deploy releases qa
t_check "releases: v1's digest is shown" contains "$OUT" "$(json "$B1/bundle.json" .services.backend.digest)"
t_check "releases: the incomplete v3 is marked" contains "$OUT" "incomplete"
run_deploy deploy qa --release v4
t_check "v4 deployed" eq "$RC" 0
t_check "after v4: v2 (neither current nor previous, keep 2) is gone" test ! -e "$(bundle v2)"
t_check "after v4: v1 (previous) kept" test -f "$B1/bundle.json"
t_check "after v4: v3 (incomplete) left alone" test -d "$(bundle v3)"
run_deploy rollback qa
t_check "rollback to v1 exits 0" eq "$RC $(state_release)" "0 v1"
run_deploy deploy qa --release v5
t_check "after v5: v1 (previous, the oldest) kept" test -f "$B1/bundle.json"
t_check "after v5: v5 (current) kept" test -f "$(bundle v5)/bundle.json"
t_check "after v5: v4 gone" test ! -e "$(bundle v4)"
# ---- check: a kept bundle whose pinned image is gone ----
run_deploy check qa
t_check "check: the kept bundles' images are available" eq "$RC" 0
t_check "check: says how many bundles it looked at" contains "$OUT" "2 kept release bundles, every pinned image available"
json "$B1/bundle.json" .services.backend.digest > "$STANDIN/gone"
run_deploy check qa
t_check "check: a bundle whose image is gone fails (exit 1)" eq "$RC" 1
t_check "check: names the release, the service and the digest" contains "$ERR" "release v1, service backend: $(json "$B1/bundle.json" .services.backend.digest) is neither on the target's engine nor in its registry"
rm "$STANDIN/gone"

run_deploy rollback qa --to v2
t_check "rollback to a pruned release: exit 2" eq "$RC" 2
t_check "rollback to a pruned release: says it is not kept" contains "$ERR" "release v2 is not kept"

# ---- immutable: `latest` and a re-pushed release tag are refused ----
EXTRA=', "immutable": true' new_env immutable
run_deploy deploy qa --release latest
t_check "immutable: latest is refused with exit 2" eq "$RC" 2
t_check "immutable: the refusal says why" contains "$ERR" "environment qa is immutable: \"latest\""
t_check "immutable: nothing was deployed" test ! -e "$APP/.ballast/state.json"
run_deploy deploy qa --release v1
t_check "immutable: v1 deployed" eq "$RC" 0
run_deploy deploy qa --release v1
t_check "immutable: redeploying v1 with the same bytes works" eq "$RC" 0
I1=$(json "$(bundle v1)/bundle.json" .services.backend.digest)
mkdir -p "$STANDIN/images"
echo "sha256:$(printf 'other bytes' | sha256sum | cut -c1-64)" > "$STANDIN/images/example_backend:v1"
n=$(grep -c '"up"' "$STANDIN/calls.jsonl")
run_deploy deploy qa --release v1
t_check "immutable: v1 re-pushed with other bytes is refused with exit 4" eq "$RC" 4
t_check "immutable: the refusal names the service and both digests" contains "$ERR" "release v1 ran service backend as $I1, but example/backend:v1 now resolves to example/backend@sha256:"
t_check "immutable: the refusal is an abort" contains "$ERR" "aborted, nothing was changed"
t_check "immutable: no up ran" eq "$(grep -c '"up"' "$STANDIN/calls.jsonl")" "$n"
t_check "immutable: v1's bundle is untouched" eq "$(json "$(bundle v1)/bundle.json" .services.backend.digest)" "$I1"
run_deploy deploy qa --release v1 --allow-mutable
t_check "immutable: --allow-mutable deploys it" eq "$RC" 0
t_check "immutable: --allow-mutable records the new digest" ne "$(json "$(bundle v1)/bundle.json" .services.backend.digest)" "$I1"
run_deploy deploy qa --release latest --allow-mutable
t_check "immutable: latest with --allow-mutable is deployed" eq "$RC" 0
# the second service's tag moved (one inspect for both): it is the one named
run_deploy deploy qa --release v3
I3=$(json "$(bundle v3)/bundle.json" .services.worker.digest)
echo "sha256:$(printf 'worker bytes' | sha256sum | cut -c1-64)" > "$STANDIN/images/example_worker:v3"
run_deploy deploy qa --release v3
t_check "immutable: the moved second service is refused with exit 4" eq "$RC" 4
t_check "immutable: the refusal names the worker, not the backend" contains "$ERR" "release v3 ran service worker as $I3, but example/worker:v3 now resolves to example/worker@sha256:$(printf 'worker bytes' | sha256sum | cut -c1-64)"

# ---- deploy --bundle: the release's files from CI ----
# app_sum: every name and every file's bytes in app_dir outside .ballast/
app_sum() {
	(cd "$APP" && { find . -path ./.ballast -prune -o -print | sort
		find . -path ./.ballast -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum; } | sha256sum)
}
incoming() { ls -A "$APP/.ballast/incoming" 2>/dev/null | tr '\n' ' '; }
CI=$WORK/ci
mkdir -p "$CI/dir"
printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n    # the CI bundle compose file\n' > "$CI/dir/docker-compose.yml"
printf 'NS=example\nDB_PASSWORD=\nNEW_SETTING=\n' > "$CI/dir/.env.qa.example"
tar -C "$CI/dir" -czf "$CI/bundle.tgz" .
tar -C "$CI/dir" -cf "$CI/bundle.tar" docker-compose.yml

new_env cibundle
before=$(app_sum)
run_deploy deploy qa --release b1 --bundle "$CI/dir"
t_check "--bundle DIR: deployed" eq "$RC $(state_release)" "0 b1"
t_check "--bundle DIR: the bundle's compose file is kept" cmp "$CI/dir/docker-compose.yml" "$(bundle b1)/compose/docker-compose.yml"
t_check "--bundle DIR: app_dir's own compose file differs from it" ne "$(cat "$APP/docker-compose.yml")" "$(cat "$CI/dir/docker-compose.yml")"
t_check "--bundle DIR: up ran the bundle's compose file" contains "$(last_up)" "\"-f\",\"$(bundle b1)/compose/docker-compose.yml\""
t_check "--bundle DIR: app_dir is unchanged outside .ballast/" eq "$(app_sum)" "$before"
t_check "--bundle DIR: the staged upload is gone" eq "$(incoming)" ""
t_check "--bundle DIR: the env template's missing variable is named" contains "$ERR" "lacks NEW_SETTING"
t_check "--bundle DIR: the index hashes the bundle's compose file" eq \
	"$(json "$(bundle b1)/bundle.json" '.files["compose/docker-compose.yml"].sha256')" "$(sha256sum < "$CI/dir/docker-compose.yml" | cut -c1-64)"
run_deploy deploy qa --release b2 --bundle "$CI/bundle.tar"
t_check "--bundle .tar: deployed" eq "$RC $(state_release)" "0 b2"
t_check "--bundle .tar: its compose file ran" cmp "$CI/dir/docker-compose.yml" "$(bundle b2)/compose/docker-compose.yml"
run_deploy plan qa --release b3 --bundle "$CI/bundle.tgz"
t_check "plan --bundle: shows the staging" contains "$OUT" "$CI/bundle.tgz -> $APP/.ballast/incoming/b3-<random>/files (before the lock)"
run_deploy deploy qa --release b3 --bundle "$CI/dir" --migrations "$CI/dir"
t_check "--bundle with --migrations: exit 2" eq "$RC" 2

# a bundle without the compose file: exit 2 naming it, nothing staged
mkdir -p "$CI/nocompose"
cp "$CI/dir/.env.qa.example" "$CI/nocompose/"
run_deploy deploy qa --release b3 --bundle "$CI/nocompose"
t_check "no compose file: exit 2" eq "$RC" 2
t_check "no compose file: named" contains "$ERR" "compose file docker-compose.yml is missing"
t_check "no compose file: nothing staged" eq "$(incoming)" ""
t_check "no compose file: still on b2" eq "$(state_release)" b2

# hostile archives: refused naming the entry, before anything is written
EVIL=$WORK/cibundle/evil-absolute
python3 - "$CI" "$EVIL" <<'PY'
import io, sys, tarfile
ci, evil = sys.argv[1], sys.argv[2]
def mk(name, entries):
    with tarfile.open(f"{ci}/{name}", "w:gz") as t:
        ti = tarfile.TarInfo("docker-compose.yml"); data = b"services: {}\n"; ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
        for e in entries:
            t.addfile(e, io.BytesIO(b"x") if e.isfile() else None)
def f(name):
    ti = tarfile.TarInfo(name); ti.size = 1; return ti
def link(name, target, kind):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; return ti
mk("dotdot.tgz", [f("migrations/../../evil")])
mk("absolute.tgz", [f(evil)])
mk("symlink.tgz", [link("migrations", "/etc", tarfile.SYMTYPE)])
mk("hardlink.tgz", [link("passwd", "/etc/passwd", tarfile.LNKTYPE)])
PY
for c in "dotdot.tgz|migrations/../../evil|a \"..\" component" \
	 "absolute.tgz|$EVIL|an absolute path" \
	 "symlink.tgz|migrations|a symlink" "hardlink.tgz|passwd|a hard link"; do
	IFS='|' read -r file entry why <<<"$c"
	run_deploy deploy qa --release b3 --bundle "$CI/$file"
	t_check "hostile $file: exit 2" eq "$RC" 2
	t_check "hostile $file: the entry is named" contains "$ERR" "entry \"$entry\": $why"
	t_check "hostile $file: nothing staged" eq "$(incoming)" ""
done
t_check "hostile archives: nothing was written outside" test ! -e "$WORK/cibundle/evil" -a ! -e "$EVIL"
ln -s /etc "$CI/dir/etc"
run_deploy deploy qa --release b3 --bundle "$CI/dir"
t_check "a directory bundle with a symlink: exit 2" eq "$RC" 2
t_check "a directory bundle with a symlink: named" contains "$ERR" 'entry "etc": a symlink'
t_check "a directory bundle with a symlink: nothing staged" eq "$(incoming)" ""
rm "$CI/dir/etc"

# ---- over ssh, from a tarball ----
SSHD_DIR=$SVC/sshd
TRANSPORT="{\"type\": \"ssh\", \"host\": \"127.0.0.1\", \"port\": $(cat "$SSHD_DIR/port"), \"user\": \"$(cat "$SSHD_DIR/user")\", \"key\": \"$(cat "$SSHD_DIR/key")\", \"known_hosts\": \"$(cat "$SSHD_DIR/known_hosts_file")\"}"
new_env cissh "$TRANSPORT"
before=$(app_sum)
run_deploy deploy qa --release s1 --bundle "$CI/bundle.tgz"
t_check "ssh --bundle .tgz: deployed" eq "$RC $(state_release)" "0 s1"
t_check "ssh --bundle .tgz: the bundle's compose file is kept" cmp "$CI/dir/docker-compose.yml" "$(bundle s1)/compose/docker-compose.yml"
t_check "ssh --bundle .tgz: up ran it" contains "$(last_up)" "\"-f\",\"$(bundle s1)/compose/docker-compose.yml\""
t_check "ssh --bundle .tgz: app_dir is unchanged outside .ballast/" eq "$(app_sum)" "$before"
t_check "ssh --bundle .tgz: the staged upload is gone" eq "$(incoming)" ""
rm "$APP/docker-compose.yml"
run_deploy deploy qa --release s2 --bundle "$CI/bundle.tgz"
t_check "ssh --bundle: app_dir needs no compose file of its own" eq "$RC $(state_release)" "0 s2"

# ---- a deploy holding the lock: the next one stages, changes nothing ----
cat > "$WORK/hold" <<SH
#!/bin/sh
touch "$WORK/held"
while [ ! -e "$WORK/go" ]; do sleep 0.05; done
SH
chmod +x "$WORK/hold"
EXTRA=", \"hooks\": {\"pre-deploy\": \"$WORK/hold\"}" new_env concurrent
# wait_for PID TEST...: until TEST holds, as long as PID runs
wait_for() { local p=$1; shift; for _ in $(seq 1 1200); do "$@" && return 0; kill -0 "$p" 2>/dev/null || return 1; sleep 0.05; done; return 1; }
staged() { compgen -G "$APP/.ballast/incoming/$1-*/files/docker-compose.yml" >/dev/null; }
"$DEPLOY" --config "$CFG" deploy qa --release c1 >"$WORK/c1.out" 2>&1 & p1=$!
wait_for "$p1" test -e "$WORK/held"
t_check "concurrent: the first deploy holds the lock" test -e "$APP/.ballast/lock"
before=$(app_sum)
run_deploy deploy qa --release c2 --bundle "$CI/dir" --json
t_check "concurrent: the second deploy is locked out (exit 3)" eq "$RC" 3
t_check "concurrent: it staged its upload first" eq \
	"$(printf '%s\n' "$OUT" | jq -r 'select(.event == "step") | "\(.step):\(.ok)"' | tr '\n' ' ')" "stage:true lock:false "
t_check "concurrent: app_dir is unchanged outside .ballast/" eq "$(app_sum)" "$before"
t_check "concurrent: its staged upload is removed on exit" eq "$(incoming)" ""
# one that waits for the lock is killed: its staging stays behind
"$DEPLOY" --config "$CFG" deploy qa --release c3 --bundle "$CI/dir" --lock-wait 600 >"$WORK/c3.out" 2>&1 & p3=$!
wait_for "$p3" staged c3
t_check "waiting: the upload is staged while the lock is held" staged c3
t_check "waiting: app_dir is unchanged outside .ballast/" eq "$(app_sum)" "$before"
kill -9 "$p3"; wait "$p3" 2>/dev/null
touch "$WORK/go"
wait "$p1"
t_check "the first deploy finishes" eq "$?" 0
t_check "a killed run's staging is left behind" contains "$(incoming)" "c3-"
run_deploy deploy qa --release c4 --bundle "$CI/bundle.tgz"
t_check "the next deploy succeeds" eq "$RC $(state_release)" "0 c4"
t_check "the next deploy removes the killed run's staging" contains "$ERR" "removing the staged upload $APP/.ballast/incoming/c3-"
t_check "no staged upload is left" eq "$(incoming)" ""


# ---- pin: every image in one `image inspect`, each answer to its service ----
# (the stand-in engine answers like docker: a line per image it has, in
# argument order, an error per missing one; backend and worker sorted)
new_env pinone "$TRANSPORT"
inspects() { grep -c '"image","inspect"' "$STANDIN/calls.jsonl"; }
run_deploy deploy qa --release p1
t_check "pin: both services pinned" eq "$RC $(jq -r '[.services[] | has("digest")] | join(" ")' "$(bundle p1)/bundle.json")" "0 true true"
t_check "pin: each service has its own image's digest" eq \
	"$(jq -r '"\(.services.backend.digest | split("@")[0]) \(.services.worker.digest | split("@")[0])"' "$(bundle p1)/bundle.json")" \
	"example/backend example/worker"
t_check "pin: one image inspect for both images" eq "$(inspects)" 1
sdigest() { printf '%s@sha256:%s' "${1%:*}" "$(printf '%s' "$1" | sha256sum | cut -c1-64)"; }
echo example/worker:p2 > "$STANDIN/gone"
run_deploy deploy qa --release p2
t_check "pin, second image missing: the deploy goes on by tag" eq "$RC" 0
t_check "pin, second image missing: the warning names the worker and why" contains \
	"$(grep 'pin: service worker (example/worker:p2): ' <<<"$ERR")" "exited with status 1: Error: No such image: example/worker:p2"
t_check "pin, second image missing: the backend has its own digest" eq \
	"$(json "$(bundle p2)/bundle.json" .services.backend.digest)" "$(sdigest example/backend:p2)"
t_check "pin, second image missing: the worker is unpinned, naming its image" contains \
	"$(json "$(bundle p2)/bundle.json" .services.worker.unpinned)" "No such image: example/worker:p2"
t_check "pin, second image missing: the backend is not blamed" lacks "$ERR" "service backend (example/backend:p2)"
echo example/backend:p3 > "$STANDIN/gone"
run_deploy deploy qa --release p3
t_check "pin, first image missing: the worker has its own digest" eq \
	"$(json "$(bundle p3)/bundle.json" .services.worker.digest)" "$(sdigest example/worker:p3)"
t_check "pin, first image missing: the backend is unpinned, naming its image" contains \
	"$(json "$(bundle p3)/bundle.json" .services.backend.unpinned)" "No such image: example/backend:p3"
t_check "pin, first image missing: the worker is not blamed" lacks "$ERR" "service worker (example/worker:p3)"
rm "$STANDIN/gone"
touch "$STANDIN/no-inspect"
n0=$(inspects)
run_deploy deploy qa --release p4
t_check "pin, no engine: one inspect, not one per image" eq "$(( $(inspects) - n0 ))" 1
t_check "pin, no engine: every service has the engine's error" eq \
	"$(jq -r '[.services[].unpinned] | unique | length' "$(bundle p4)/bundle.json") $(json "$(bundle p4)/bundle.json" .services.worker.unpinned)" \
	"1 $S/tests/standin/compose exited with status 1: standin docker: image inspect: not supported here"
rm "$STANDIN/no-inspect"
# a redeploy of the running release: its proven files stay as they are
# (same inode: not rewritten), a changed one is written again
run_deploy deploy qa --release p5
ino() { stat -c %i "$(bundle p5)/$1"; }
i_compose=$(ino compose/docker-compose.yml); i_env=$(ino env); i_pin=$(ino pinned.yml)
run_deploy deploy qa --release p5
t_check "redeploy: exits 0" eq "$RC" 0
t_check "redeploy: the unchanged files are left as they are" eq "$(ino compose/docker-compose.yml) $(ino env) $(ino pinned.yml)" "$i_compose $i_env $i_pin"
printf 'NS=example\nDB_PASSWORD=%s\nCHANGED=1\n' "$SECRET" > "$APP/.env.qa"
run_deploy deploy qa --release p5
t_check "redeploy, env file changed: the bundle's copy is the new one" cmp "$APP/.env.qa" "$(bundle p5)/env"
t_check "redeploy, env file changed: the index has its hash" eq "$(json "$(bundle p5)/bundle.json" '.files.env.sha256')" "$(sha256sum < "$APP/.env.qa" | cut -c1-64)"
touch "$STANDIN/no-inspect"
run_deploy deploy qa --release p5
t_check "redeploy, nothing pinnable now: pinned.yml is removed" test ! -e "$(bundle p5)/pinned.yml"
t_check "redeploy, nothing pinnable now: up runs without it" lacks "$(grep '"up"' "$STANDIN/calls.jsonl" | tail -n1)" pinned.yml
rm "$STANDIN/no-inspect"
run_deploy deploy qa --release p5
t_check "redeploy, pinnable again: pinned.yml is back" test -f "$(bundle p5)/pinned.yml"

t_done

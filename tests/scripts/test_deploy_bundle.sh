#!/usr/bin/env bash
# services: http
# Release bundles with the stand-in compose (no container engine): what a
# deploy records under .ballast/releases/<release>/ (every file hashed in
# bundle.json, the env file 0600, pinned.yml with the digests), that state
# and history name it, that compose runs from it, that a half-written or
# altered bundle is refused before anything changes, `releases`, and the
# retention that never drops the current or the previous release. (Real
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

t_done

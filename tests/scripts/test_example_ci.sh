#!/usr/bin/env bash
# The audit_app CI workflow: its ref -> environment/tag/release step is run
# for real on every kind of ref, with the real ballast-deploy of this build
# and the example's ballast.json (the mapping lives in ballast, not in the
# workflow), and the jobs carry what the issues ask for (buildx for amd64
# and arm64, SHA and computed tags, the secrets, and `ballast-deploy deploy
# <env> --release <tag> --bundle <the checkout's files>` over SSH).
. "$(dirname "$0")/lib.sh"
wf=$S/examples/audit_app/.github/workflows/docker-build-deploy.yml
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

python3 - "$wf" "$tmp/meta.sh" <<'PY' && t_ok || t_fail "cannot extract the meta step from $wf"
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
steps = wf["jobs"]["meta"]["steps"]
run = [s for s in steps if s.get("id") == "ref"][0]["run"]
open(sys.argv[2], "w").write(run)
PY

# ref -> env tag release, run where CI runs it: a checkout with ballast.json,
# ballast-deploy on the PATH
mkdir -p "$tmp/repo"
cp "$S/examples/audit_app/ballast.json" "$tmp/repo/"
sha=0123456789abcdef0123456789abcdef01234567
run_meta() { # REF: sets out ("env tag release" or "error") and notice
	: > "$tmp/out"
	if ! (cd "$tmp/repo" && GITHUB_REF=$1 GITHUB_SHA=$sha GITHUB_OUTPUT=$tmp/out PATH=$B:$PATH \
		bash "$tmp/meta.sh" >"$tmp/stdout" 2>"$tmp/err"); then
		out="error"
	else
		out="$(grep '^env=' "$tmp/out" | cut -d= -f2) $(grep '^tag=' "$tmp/out" | cut -d= -f2) $(grep '^release=' "$tmp/out" | cut -d= -f2)"
	fi
	notice=$(cat "$tmp/stdout")
}
check_ref() {
	run_meta "$1"
	[ "$out" = "$2" ] && t_ok || t_fail "$1: got '$out', want '$2' ($(cat "$tmp/err"))"
}
check_ref refs/heads/develop "dev dev $sha"
check_ref refs/heads/qa "qa qa $sha"
check_ref refs/heads/release/2026.11 "qa qa $sha"
check_ref refs/tags/v1.4.2 "prod v1.4.2 v1.4.2"
check_ref refs/tags/v1.4.2-rc1 "qa v1.4.2-rc1 v1.4.2-rc1"
# prod is immutable and deploys release tags: main builds and deploys nothing
check_ref refs/heads/main "  "
check_ref refs/tags/v1.4 "  "
check_ref refs/heads/feature/x "  "
t_contains "$notice" "::notice::ref feature/x deploys nowhere (no environment's refs match it): not built, not deployed" "an unmapped ref says so"
check_ref refs/pull/7/merge "  "
# a broken config is an error, not "deploys nowhere"
echo '{ "environments": ' > "$tmp/repo/ballast.json"
check_ref refs/heads/develop "error"
cp "$S/examples/audit_app/ballast.json" "$tmp/repo/"
meta=$(cat "$tmp/meta.sh")
t_contains "$meta" 'ballast-deploy --config ballast.json env-for-ref "$ref"' "the meta step asks ballast for the environment"
t_contains "$meta" 'ballast-deploy --config ballast.json tag-for-ref "$ref"' "the meta step asks ballast for the tag"
t_not_contains "$meta" "refs/heads/develop" "the meta step has no mapping of its own"
t_not_contains "$meta" "case " "the meta step has no case of its own"

# the built-in mapping (no config): the same refs, one table in the docs
nocfg=$tmp/nocfg; mkdir -p "$nocfg"
builtin() { (cd "$nocfg" && "$B/ballast-deploy" "$1" "$2" 2>&1); echo "rc=$?"; }
for c in "refs/heads/develop dev dev" "refs/heads/qa qa qa" "refs/heads/release/2026.11 qa qa" \
	 "refs/heads/main prod latest" "refs/tags/v1.4.2 prod v1.4.2" "refs/tags/v1.4.2-rc1 qa v1.4.2-rc1" \
	 "refs/tags/v1.4.2-beta.2 qa v1.4.2-beta.2"; do
	set -- $c
	t_check "built-in: $1 deploys to $2" eq "$(builtin env-for-ref "$1")" "$2
rc=0"
	t_check "built-in: $1 is tagged $3" eq "$(builtin tag-for-ref "$1")" "$3
rc=0"
done
for c in "refs/heads/feature/x feature/x" "refs/tags/v1.4 v1.4" "refs/tags/v1.4.2- v1.4.2-" \
	 "refs/pull/7/merge refs/pull/7/merge"; do
	set -- $c
	t_check "built-in: $1 deploys nowhere (exit 1)" eq "$(builtin env-for-ref "$1")" \
		"ballast-deploy: error: ref $2 deploys nowhere (not one of the built-in mapping's refs)
rc=1"
done
t_check "the docs have one mapping table" eq "$(grep -c '^| ref | environment | tag |' "$S/docs/ballast-deploy.md")" 1
t_check "prod is immutable in the example" eq "$(jq -r .environments.prod.immutable "$S/examples/audit_app/ballast.json")" true

text=$(cat "$wf")
t_contains "$text" "platforms: linux/amd64,linux/arm64" "buildx platforms"
t_contains "$text" "docker/setup-buildx-action" "buildx"
t_contains "$text" 'audit-app-${{ matrix.component }}:${{ github.sha }}' "sha tag"
t_contains "$text" 'audit-app-${{ matrix.component }}:${{ needs.meta.outputs.tag }}' "computed tag"
t_contains "$text" 'ballast-deploy --config ballast.json deploy $(printf %q "$ENV_NAME") --release $(printf %q "$RELEASE") --bundle $(printf %q "$remote")' "deploy command"
t_contains "$text" 'tar -czf "$bundle" "docker-compose.$ENV_NAME.yml" ".env.$ENV_NAME.example" migrations' "the bundle is built from the checkout"
t_not_contains "$text" 'tar -C $(printf %q "$APP_DIR") -x' "nothing is unpacked into the app directory"
for s in DOCKERHUB_USERNAME DOCKERHUB_TOKEN DOCKERHUB_NAMESPACE; do
	t_contains "$text" "secrets.$s" "secret $s"
done
for s in SSH_HOST SSH_USER SSH_KEY APP_DIR SSH_PORT; do
	t_contains "$text" "format('{0}_$s'" "secret PROD_$s"
done
# The private key never reaches argv or the log: it is written to a file.
t_contains "$text" 'printf '"'"'%s\n'"'"' "$SSH_KEY" > ~/.ssh/deploy_key' "key to a file"
t_done

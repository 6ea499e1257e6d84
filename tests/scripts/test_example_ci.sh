#!/usr/bin/env bash
# The audit_app CI workflow: its ref -> environment/tag/release step is run
# for real on every kind of ref, and the jobs carry what the issue asks for
# (buildx for amd64 and arm64, SHA and computed tags, the secrets, and
# `ballast-deploy deploy <env> --release <tag>` over SSH).
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

# ref -> env tag release
sha=0123456789abcdef0123456789abcdef01234567
check_ref() {
	local ref=$1 want=$2 out
	: > "$tmp/out"
	if ! GITHUB_REF=$ref GITHUB_SHA=$sha GITHUB_OUTPUT=$tmp/out bash "$tmp/meta.sh" >/dev/null 2>"$tmp/err"; then
		out="error"
	else
		out="$(grep '^env=' "$tmp/out" | cut -d= -f2) $(grep '^tag=' "$tmp/out" | cut -d= -f2) $(grep '^release=' "$tmp/out" | cut -d= -f2)"
	fi
	[ "$out" = "$want" ] && t_ok || t_fail "$ref: got '$out', want '$want'"
}
check_ref refs/heads/develop "dev dev $sha"
check_ref refs/heads/qa "qa qa $sha"
check_ref refs/heads/release/2026.11 "qa qa $sha"
check_ref refs/heads/main "prod latest $sha"
check_ref refs/tags/v1.4.2 "prod v1.4.2 v1.4.2"
check_ref refs/tags/v1.4 "error"
check_ref refs/heads/feature/x "  $sha"
check_ref refs/pull/7/merge "  $sha"

text=$(cat "$wf")
t_contains "$text" "platforms: linux/amd64,linux/arm64" "buildx platforms"
t_contains "$text" "docker/setup-buildx-action" "buildx"
t_contains "$text" 'audit-app-${{ matrix.component }}:${{ github.sha }}' "sha tag"
t_contains "$text" 'audit-app-${{ matrix.component }}:${{ needs.meta.outputs.tag }}' "computed tag"
t_contains "$text" 'ballast-deploy --config ballast.json deploy $(printf %q "$ENV_NAME") --release $(printf %q "$RELEASE")' "deploy command"
for s in DOCKERHUB_USERNAME DOCKERHUB_TOKEN DOCKERHUB_NAMESPACE; do
	t_contains "$text" "secrets.$s" "secret $s"
done
for s in SSH_HOST SSH_USER SSH_KEY APP_DIR SSH_PORT; do
	t_contains "$text" "format('{0}_$s'" "secret PROD_$s"
done
# The private key never reaches argv or the log: it is written to a file.
t_contains "$text" 'printf '"'"'%s\n'"'"' "$SSH_KEY" > ~/.ssh/deploy_key' "key to a file"
t_done

#!/usr/bin/env bash
# bench/deploy.sh: a no-op deploy over SSH to localhost, ballast-deploy
# against bench/deploy_baseline.sh (the same steps, one `ssh` per step),
# and ballast-deploy's two ssh transports against each other: "ssh"
# (libssh2) and "openssh" (the system client with one multiplexed master).
#
# Setup: the sshd and http test services, the stand-in compose, a release
# already up and healthy; then RUNS timed runs of each (ballast: `deploy qa
# --release v1` again; the baseline likewise). No snapshot and no migrations
# (the remote tools would cost the same in both). Prints medians and the
# ratio and writes them to bench/results/deploy-<UTC date>.txt.
#
# The login user is a throwaway system user "ballastbench" with /bin/sh as
# its shell, created for the run and removed afterwards: root's shell on
# the build machines sources a .bashrc that starts pyenv (about a second
# per remote command), which would measure that file, not ballast. Needs root.
#
#   bench/deploy.sh [BUILD_DIR]      RUNS=5 by default
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
build=${1:-$top/build}
RUNS=${RUNS:-5}
bin=$build/ballast-deploy
user=ballastbench
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (it creates a throwaway login user)" >&2; exit 2; }

work=$(mktemp -d /tmp/ballast-bench-deploy-XXXXXX)
chmod 755 "$work"
created=0
cleanup() {
	"$top/tests/services/sshd.sh" stop "$work/sshd" >/dev/null 2>&1 || true
	"$top/tests/services/http.sh" stop "$work/http" >/dev/null 2>&1 || true
	[ "$created" = 1 ] && userdel "$user" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
if ! id "$user" >/dev/null 2>&1; then
	# "*" rather than the locked "!": sshd without PAM refuses locked accounts
	useradd --system --no-create-home --home-dir "$work/home" --shell /bin/sh -p "*" "$user"
	created=1
fi
mkdir -p "$work/home"
chown "$user:" "$work/home"

"$top/tests/services/sshd.sh" start "$work/sshd" >/dev/null
"$top/tests/services/http.sh" start "$work/http" >/dev/null
# sshd reads authorized_keys as the login user
chmod 755 "$work/sshd"; chmod 644 "$work/sshd/authorized_keys"
chown "$user:" "$work/http"
port=$(cat "$work/sshd/port"); key=$work/sshd/id_ed25519; kh=$work/sshd/known_hosts
url=$(cat "$work/http/url")

app=$work/app; standin=$work/standin
mkdir -p "$app" "$standin"
ln -s "$work/http" "$standin/health"
printf 'services:\n  backend:\n    image: ${BACKEND_IMAGE}\n' > "$app/docker-compose.yml"
printf 'NS=example\n' > "$app/.env.qa"
chown -R "$user:" "$app" "$standin"
compose="$top/tests/standin/compose --standin $standin"
cat > "$work/ballast.json" <<JSON
{
  "images": { "BACKEND_IMAGE": "\${NS}/backend", "WORKER_IMAGE": "\${NS}/worker" },
  "environments": {
    "qa": {
      "transport": { "type": "ssh", "host": "127.0.0.1", "port": $port, "user": "$user",
                     "key": "$key", "known_hosts": "$kh" },
      "app_dir": "$app", "compose_file": "docker-compose.yml", "env_file": ".env.qa",
      "compose_command": ["$top/tests/standin/compose", "--standin", "$standin"],
      "snapshot": false, "data_restore": "never", "min_free": "1M",
      "health": [ { "url": "$url", "timeout": "2s", "interval": "200ms", "deadline": "30s" } ]
    }
  }
}
JSON
# the same environment over the system ssh client
jq --arg kh "$kh" --arg key "$key" --arg user "$user" --argjson port "$port" \
	'.environments.qa.transport = {type: "openssh", host: "127.0.0.1", port: $port, user: $user,
	  identity: $key, known_hosts: $kh, config_file: "/dev/null"}' \
	"$work/ballast.json" > "$work/ballast-openssh.json"
# release v1 up and green before timing
"$bin" --config "$work/ballast.json" -q deploy qa --release v1 >/dev/null
[ "$(curl -s "$url")" != "" ] || { echo "bench: health not green" >&2; exit 1; }

ms() { date +%s%3N; }
median() { bench_median "$@"; }
b_times=""; s_times=""; o_times=""
for i in $(seq 1 "$RUNS"); do
	t0=$(ms)
	"$bin" --config "$work/ballast.json" -q deploy qa --release v1 >/dev/null
	t1=$(ms)
	bash "$top/bench/deploy_baseline.sh" "$user@127.0.0.1" "$port" "$key" "$kh" "$app" "$compose" v1 "$url"
	t2=$(ms)
	"$bin" --config "$work/ballast-openssh.json" -q deploy qa --release v1 >/dev/null
	t3=$(ms)
	b_times="$b_times $((t1 - t0))"; s_times="$s_times $((t2 - t1))"; o_times="$o_times $((t3 - t2))"
done
bm=$(echo "$b_times" | median); sm=$(echo "$s_times" | median); om=$(echo "$o_times" | median)
execs=$(grep -c '' "$standin/calls.jsonl")
out=$top/bench/results/deploy-$(date -u +%Y%m%d).txt
{
	echo "bench/deploy.sh: no-op deploy of an up-and-healthy release over SSH to 127.0.0.1"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm), $(nproc) cpus (shared with other jobs)"
	echo "ballast-deploy $("$bin" --version | awk '{print $2}') from $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2) build); $(ssh -V 2>&1)"
	echo "login user $user with /bin/sh; stand-in compose (bash + jq); health server python3 on 127.0.0.1"
	echo "runs: $RUNS, alternating; end to end wall time"
	echo "  ballast-deploy (one ssh connection) ms:  $b_times  median $bm"
	echo "  shell script (one ssh per step) ms:      $s_times  median $sm"
	echo "  ratio (script / ballast, median): $(awk -v s="$sm" -v b="$bm" 'BEGIN {printf "%.1fx", s / b}')"
	echo "  ballast under 2 s: $([ "$bm" -lt 2000 ] && echo yes || echo NO)"
	echo "  ballast-deploy over the openssh transport ms: $o_times  median $om"
	echo "  ratio (openssh / ssh transport, median): $(awk -v o="$om" -v b="$bm" 'BEGIN {printf "%.2fx", o / b}') (#22: at most 1.5x)"
	echo "  ballast's steps in its last run (ms): $(grep '"action":"deploy"' "$app/.ballast/history.jsonl" | tail -n1 | jq -r '[.steps[] | "\(.step) \(.ms)"] | join(", ")')"
	echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"

#!/usr/bin/env bash
# bench/deploy_docker.sh: ballast-deploy on real Docker against the same
# deploy by hand, `docker compose pull && docker compose up -d --wait`.
#
#   bench/deploy_docker.sh [--quick] [--rounds N] [--out DIR] [--build DIR]
#
#   --quick    2 rounds (a smoke test of the script; the figures mean little)
#   --rounds   rounds per case (default 5); in each round ballast and the
#              by-hand deploy run once, in turn
#   --out DIR  where the result files go (default bench/results)
#   --build    the build directory holding ballast-deploy (default ./build)
#
# Setup: a private dockerd and local registry (tests/services/docker.sh,
# under a temp dir: never the host's default daemon), the backend image of
# the real-container suite (tests/data/docker-app: busybox httpd, a 1 s
# container healthcheck) pushed under one tag per deploy, each tag its own
# image (a one-line layer), so that a new tag is a real pull. Two compose
# projects of one service each, one deployed by ballast-deploy (local
# transport, no snapshot, no migrations: the same work as by hand plus
# ballast's lock, preflight, bundle, pin, verify and record), one by hand,
# both from the same first release. Two cases, RUNS rounds each:
#
#   no-op   the running release again (ballast: `deploy qa --release r0`;
#           by hand: pull and up --wait with the same tag)
#   new tag a release not deployed before (a new tag, a new image)
#
# Wall time end to end and per step (ballast's from its history line; by
# hand: pull, then up --wait). Prints medians and the ratios (by hand /
# ballast: above 1, ballast is faster) and writes them to
# DIR/deploy-docker-<UTC time>.txt, and the same figures in bench/report.py's
# shape of a pair to DIR/deploy-docker-<UTC time>.json. Needs root (dockerd).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"

quick=0 out=$top/bench/results build=$top/build rounds=5
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 rounds=2 ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--build) build=${2:?--build needs a directory}; shift ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	-h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument '$1' (expected --quick, --rounds N, --out DIR, --build DIR)" >&2; exit 2 ;;
	esac
	shift
done
case $rounds in ''|*[!0-9]*|0) echo "bench: --rounds '$rounds' is not a positive number" >&2; exit 2 ;; esac
bin=$build/ballast-deploy
[ -x "$bin" ] || { echo "bench: $bin not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (it starts a private dockerd)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d /tmp/ballast-bench-dd-XXXXXX)
chmod 755 "$work"
cleanup() {
	"$top/tests/services/docker.sh" stop "$work/docker" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
"$top/tests/services/docker.sh" start "$work/docker" >"$work/docker.log" 2>&1 ||
	{ tail -n 5 "$work/docker.log" >&2; echo "bench: the private dockerd did not start" >&2; exit 1; }
DOCKER=$(cat "$work/docker/docker")
export DOCKER_HOST DOCKER_CONFIG
DOCKER_HOST=$(cat "$work/docker/host")
DOCKER_CONFIG=$(cat "$work/docker/docker_config")
reg=$(cat "$work/docker/registry")
base=$(cat "$work/docker/base_image")

# ---- images: r0 (the first release), then one tag per new-tag deploy
repo=$reg/bench/backend
quiet() { "$@" >"$work/cmd.log" 2>&1 || { cat "$work/cmd.log" >&2; echo "bench: failed: $*" >&2; exit 1; }; }
quiet env DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$base" -t "$reg/bench/app:base" "$top/tests/data/docker-app"
mkdir -p "$work/img"
printf 'ARG BASE\nFROM ${BASE}\nARG TAG\nRUN echo "$TAG" > /marker\n' > "$work/img/Dockerfile"
tags=(r0)
for i in $(seq 1 "$rounds"); do tags+=("b$i" "h$i"); done
for t in "${tags[@]}"; do
	quiet env DOCKER_BUILDKIT=0 "$DOCKER" build -q --build-arg "BASE=$reg/bench/app:base" --build-arg "TAG=$t" -t "$repo:$t" "$work/img"
	quiet "$DOCKER" push "$repo:$t"
	quiet "$DOCKER" rmi "$repo:$t"
done

. "$top/tests/services/lib.sh"   # svc_free_port
# app DIR PORT: a compose project of one service publishing PORT
app() {
	mkdir -p "$1"
	cat > "$1/docker-compose.yml" <<'YML'
services:
  backend:
    image: ${BACKEND_IMAGE}
    environment: { APP_IMAGE: "${BACKEND_IMAGE}" }
    ports: ["127.0.0.1:${APP_PORT}:8080"]
YML
	printf 'NS=%s/bench\nAPP_PORT=%s\n' "$reg" "$2" > "$1/.env"
}
bport=$(svc_free_port); hport=$(svc_free_port)
app "$work/ballast" "$bport"
app "$work/hand" "$hport"
cat > "$work/ballast.json" <<JSON
{
  "project": "bench",
  "images": { "BACKEND_IMAGE": "\${NS}/backend" },
  "environments": {
    "qa": {
      "transport": { "type": "local" },
      "app_dir": "$work/ballast", "env_file": ".env", "project_name": "benchb",
      "compose_command": ["$DOCKER", "compose"], "docker_command": ["$DOCKER"],
      "backup_command": ["$build/ballast-backup"], "migrate_command": ["$build/ballast-migrate"],
      "snapshot": false, "data_restore": "never", "min_free": "1M", "stop_grace": "2s",
      "health": [ { "url": "http://127.0.0.1:$bport/cgi-bin/health", "status": 200,
                    "timeout": "2s", "interval": "100ms", "deadline": "60s" } ]
    }
  }
}
JSON

ms() { date +%s%3N; }
median() { bench_median "$@"; }
release_on() { curl -s -m 3 "http://127.0.0.1:$1/cgi-bin/health" | jq -r .release 2>/dev/null; }
by_ballast() { # TAG: prints the wall ms; its steps go to $work/steps.b.CASE
	local t0 t1
	t0=$(ms)
	quiet "$bin" --config "$work/ballast.json" -q deploy qa --release "$1"
	t1=$(ms)
	[ "$(release_on "$bport")" = "$1" ] || { echo "bench: ballast's deploy of $1 does not answer" >&2; exit 1; }
	tail -n 1 "$work/ballast/.ballast/history.jsonl" |
		jq -r '[.steps[] | "\(.step)=\(.ms)"] | join(" ")' >> "$work/steps.b.$kind"
	echo $((t1 - t0))
}
by_hand() { # TAG: the same by hand; pull and up --wait timed apart
	local t0 t1 t2
	cd "$work/hand"
	t0=$(ms)
	BACKEND_IMAGE=$repo:$1 quiet "$DOCKER" compose -p benchh pull
	t1=$(ms)
	BACKEND_IMAGE=$repo:$1 quiet "$DOCKER" compose -p benchh up -d --wait
	t2=$(ms)
	cd "$top"
	[ "$(release_on "$hport")" = "$1" ] || { echo "bench: the deploy by hand of $1 does not answer" >&2; exit 1; }
	echo "pull=$((t1 - t0)) up-wait=$((t2 - t1))" >> "$work/steps.h.$kind"
	echo $((t2 - t0))
}
# step_medians FILE: "step median, ..." over the runs in FILE, in the order
# of its first line
step_medians() {
	local s first
	first=$(head -n 1 "$1")
	for s in $first; do
		s=${s%%=*}
		printf '%s %s, ' "$s" "$(grep -o "\\b$s=[0-9]*" "$1" | cut -d= -f2 | tr '\n' ' ' | median)"
	done | sed 's/, $//'
}

kind=first
by_ballast r0 >/dev/null
by_hand r0 >/dev/null
declare -A times
for kind in noop newtag; do
	b=""; h=""
	for i in $(seq 1 "$rounds"); do
		if [ "$kind" = noop ]; then bt=r0 ht=r0; else bt=b$i ht=h$i; fi
		b="$b $(by_ballast "$bt")"
		h="$h $(by_hand "$ht")"
		echo "bench: $kind round $i: ballast$b | by hand$h" >&2
	done
	times[$kind.b]=$b; times[$kind.h]=$h
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
label() { [ "$1" = noop ] && echo "no-op" || echo "new tag"; }
{
	echo "bench/deploy_docker.sh: deploys on real Docker, ballast-deploy against 'docker compose pull && docker compose up -d --wait' by hand"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm), $(nproc) cpus (shared with other jobs)$([ "$quick" = 1 ] && echo '  QUICK: 2 rounds, a smoke test')"
	echo "ballast-deploy $("$bin" --version | awk '{print $2}') from $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2) build), local transport, no snapshot, no migrations"
	echo "Docker $("$DOCKER" version --format '{{.Server.Version}}') (private engine, vfs storage), compose $("$DOCKER" compose version --short), registry on 127.0.0.1; one busybox httpd service, 1 s container healthcheck"
	echo "runs: $rounds per case, alternating; end to end wall time"
	for kind in noop newtag; do
		bm=$(echo "${times[$kind.b]}" | median); hm=$(echo "${times[$kind.h]}" | median)
		echo "$(label $kind) deploy ($([ $kind = noop ] && echo 'the running release again' || echo 'a tag not deployed before, a new image')):"
		echo "  ballast-deploy $(label $kind) ms: ${times[$kind.b]}  median $bm"
		echo "  by hand $(label $kind) ms: ${times[$kind.h]}  median $hm"
		echo "  ratio (by hand / ballast, median): $(awk -v h="$hm" -v b="$bm" 'BEGIN {printf "%.2fx", h / b}')"
		echo "  ballast's steps (median ms): $(step_medians "$work/steps.b.$kind")"
		echo "  by hand's steps (median ms): $(step_medians "$work/steps.h.$kind")"
	done
	echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/deploy-docker-$stamp.txt"

# The same figures as one pair of bench/report.py's JSON (seconds).
python3 - "$out/deploy-docker-$stamp.json" "$work" "${times[noop.b]}" "${times[noop.h]}" \
	"${times[newtag.b]}" "${times[newtag.h]}" "$rounds" <<'PY'
import json, statistics, sys
path, work, nb, nh, tb, th, rounds = sys.argv[1:8]
def stats(ms):
    v = [int(x) / 1000 for x in ms.split()]
    return {"median": round(statistics.median(v), 3), "min": min(v), "max": max(v), "runs": v}
def steps(f):
    runs = [dict(kv.split("=") for kv in l.split()) for l in open(f) if l.strip()]
    return {k: round(statistics.median([int(r[k]) / 1000 for r in runs if k in r]), 3) for k in runs[0]}
v = {"ballast_noop": {"wall_s": stats(nb)}, "by_hand_noop": {"wall_s": stats(nh)},
     "ballast_new_tag": {"wall_s": stats(tb)}, "by_hand_new_tag": {"wall_s": stats(th)}}
for kind, key in (("noop", "noop"), ("newtag", "new_tag")):
    v["ballast_" + key]["steps_s"] = steps(f"{work}/steps.b.{kind}")
    v["by_hand_" + key]["steps_s"] = steps(f"{work}/steps.h.{kind}")
r = lambda a, b: round(v[a]["wall_s"]["median"] / v[b]["wall_s"]["median"], 3)
doc = {"deploy_docker": {"variants": v, "rounds": int(rounds),
       "ratios": {"speed_by_hand_over_ballast_noop": r("by_hand_noop", "ballast_noop"),
                  "speed_by_hand_over_ballast_new_tag": r("by_hand_new_tag", "ballast_new_tag")}}}
with open(path, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
PY
echo "bench: wrote $out/deploy-docker-$stamp.txt and .json" >&2

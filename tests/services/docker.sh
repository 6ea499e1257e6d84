#!/usr/bin/env bash
# A private Docker Engine and a local image registry for the real-container
# deploy suites.
#
#   docker.sh start DIR   start dockerd (vfs storage; data root, pid file
#                         and socket under DIR, exec root in a short
#                         /tmp/bdx-* dir named in DIR/exec_root; never the host's
#                         default socket or /etc/docker/daemon.json) and
#                         docker-registry on a free port of 127.0.0.1; build
#                         a busybox base image FROM scratch and push it.
#                         Writes DIR/host (unix://DIR/docker.sock, for
#                         DOCKER_HOST), DIR/docker (the client), DIR/registry
#                         (127.0.0.1:PORT), DIR/base_image, DIR/docker_config
#                         (a DOCKER_CONFIG whose cli-plugins hold the compose
#                         v2 plugin), DIR/compose_v1 (docker-compose 1.x).
#   docker.sh stop DIR    remove every container and network of that engine,
#                         stop it and the registry, unmount what is left
#                         under DIR, delete its bridges and remove DIR.
#
# The engine runs without the default bridge (--bridge=none: two engines
# would both want docker0) and without touching the host's firewall or
# sysctls (--iptables=false, --ip-forward=false): compose creates its own
# bridge networks, and ports published on 127.0.0.1 are served by
# docker-proxy. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: docker.sh start|stop DIR"

client=/usr/bin/docker
[ -x "$client" ] || client=$(command -v docker || true)
plugin=$here/tools/cli-plugins/docker-compose

dk() { DOCKER_HOST="unix://$dir/docker.sock" DOCKER_CONFIG="$dir/config" "$client" "$@"; }

engine_up() { dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case "$cmd" in
start)
	[ "$(id -u)" = 0 ] || svc_die "docker: dockerd needs root (run the suites as root)"
	command -v dockerd >/dev/null 2>&1 || svc_die "docker: dockerd not found (scripts/deps.sh installs docker.io)"
	[ -n "$client" ] || svc_die "docker: docker client not found (scripts/deps.sh installs docker.io)"
	command -v docker-registry >/dev/null 2>&1 || svc_die "docker: docker-registry not found (scripts/deps.sh installs it)"
	[ -x /bin/busybox ] || svc_die "docker: /bin/busybox not found (scripts/deps.sh installs busybox-static)"
	[ -x "$plugin" ] || svc_die "docker: compose v2 plugin missing at $plugin (run scripts/deps.sh)"
	"$0" stop "$dir" >/dev/null 2>&1 || true
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# containerd's sockets live under the exec root, and a 61-character
	# state dir already made them longer than a unix socket's 108 bytes: the
	# exec root is a short directory of its own (/tmp/bdx-XXXXXX), named in
	# DIR/exec_root and removed by stop. DIR only holds docker.sock.
	[ ${#dir} -le 90 ] || svc_die "docker: state dir $dir is too long for dockerd's socket (at most 90 characters)"
	exec_root=$(mktemp -d /tmp/bdx-XXXXXX)
	echo "$exec_root" > "$dir/exec_root"
	mkdir -p "$dir/config/cli-plugins" "$dir/reg"
	ln -sf "$plugin" "$dir/config/cli-plugins/docker-compose"
	echo '{}' > "$dir/daemon.json"
	dockerd --config-file "$dir/daemon.json" --storage-driver=vfs \
		--data-root "$dir/data" --exec-root "$exec_root" --pidfile "$dir/dockerd.pid" \
		-H "unix://$dir/docker.sock" --bridge=none --iptables=false --ip-masq=false \
		--ip6tables=false --ip-forward=false --userland-proxy=true --log-level=warn \
		>"$dir/dockerd.log" 2>&1 &
	echo $! > "$dir/pid"
	for _ in $(seq 1 300); do
		engine_up && break
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
		sleep 0.1
	done
	if ! engine_up; then
		tail -5 "$dir/dockerd.log" >&2
		"$0" stop "$dir" >/dev/null 2>&1 || true
		svc_die "docker: the private dockerd did not start (see the lines above)"
	fi
	port=
	for attempt in 1 2 3; do
		port=$(svc_free_port)
		cat > "$dir/reg/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/reg/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		docker-registry serve "$dir/reg/config.yml" >"$dir/reg/log" 2>&1 &
		echo $! > "$dir/reg/pid"
		svc_wait_tcp "$port" 30 && break
		svc_kill_pidfile "$dir/reg/pid"
		port=
	done
	[ -n "$port" ] || { "$0" stop "$dir" >/dev/null 2>&1 || true; svc_die "docker: docker-registry did not start"; }
	# The base of every test image: busybox alone, FROM scratch (nothing can
	# be pulled from the internet here).
	mkdir -p "$dir/base"
	cp /bin/busybox "$dir/base/busybox"
	cat > "$dir/base/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EOF
	base=127.0.0.1:$port/ballast-test/busybox:base
	if ! DOCKER_BUILDKIT=0 dk build -q -t "$base" "$dir/base" >"$dir/base/build.log" 2>&1 ||
	   ! dk push "$base" >>"$dir/base/build.log" 2>&1; then
		tail -5 "$dir/base/build.log" >&2
		"$0" stop "$dir" >/dev/null 2>&1 || true
		svc_die "docker: building or pushing the busybox base image failed"
	fi
	echo "unix://$dir/docker.sock" > "$dir/host"
	echo "$client" > "$dir/docker"
	echo "127.0.0.1:$port" > "$dir/registry"
	echo "$base" > "$dir/base_image"
	echo "$dir/config" > "$dir/docker_config"
	command -v docker-compose > "$dir/compose_v1" || true
	echo "dockerd $(dk version --format '{{.Server.Version}}') at unix://$dir/docker.sock, registry 127.0.0.1:$port"
	;;
stop)
	[ -d "$dir" ] || exit 0
	dir=$(cd "$dir" && pwd)
	bridges=()
	if [ -S "$dir/docker.sock" ] && engine_up; then
		ids=$(dk ps -aq 2>/dev/null || true)
		[ -z "$ids" ] || dk rm -f -v $ids >/dev/null 2>&1 || true
		for n in $(dk network ls -q --filter driver=bridge 2>/dev/null || true); do
			bridges+=("br-${n:0:12}")
		done
		dk network prune -f >/dev/null 2>&1 || true
	fi
	svc_kill_pidfile "$dir/reg/pid"
	# dockerd stops its own containerd; a KILL (after 5 s) may leave it.
	svc_kill_pidfile "$dir/pid"
	exec_root=$(cat "$dir/exec_root" 2>/dev/null || true)
	case $exec_root in /tmp/bdx-*) ;; *) exec_root= ;; esac
	for f in "$exec_root"/containerd/*.pid "$exec_root"/containerd/containerd.pid; do
		[ -n "$exec_root" ] && [ -f "$f" ] && svc_kill_pidfile "$f"
	done
	for b in "${bridges[@]}"; do
		ip link show "$b" >/dev/null 2>&1 && ip link delete "$b" 2>/dev/null || true
	done
	# Mounts under DIR (netns files, shm, container roots), deepest first.
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$dir" -v x="${exec_root:-/nonexistent}" \
		'index($2, d "/") == 1 || index($2, x "/") == 1 || $2 == x { print $2 }' /proc/self/mounts | sort -r)
	[ -z "$exec_root" ] || rm -rf "$exec_root"
	rm -rf "$dir"
	;;
*)
	svc_die "usage: docker.sh start|stop DIR"
	;;
esac

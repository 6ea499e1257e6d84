# Shared by the service scripts: free ports, waiting, state files.
# A service's state lives in one directory given by the caller; the script
# writes there what suites need (one value per file: port, conninfo, ...)
# and everything it must clean up on stop.

svc_die() { echo "tests/services: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (bind to 0 and read the kernel's choice).
svc_free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
	else
		# No python: pick randomly in the ephemeral range until nothing listens.
		local p
		for _ in $(seq 1 50); do
			p=$(( (RANDOM % 20000) + 30000 ))
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
		done
		svc_die "no free port found"
	fi
}

# svc_wait_tcp PORT SECONDS: until something accepts on 127.0.0.1:PORT.
svc_wait_tcp() {
	local port=$1 deadline=$(( $(date +%s) + $2 ))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# svc_kill_pidfile FILE: TERM, then KILL after 5 s.
svc_kill_pidfile() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

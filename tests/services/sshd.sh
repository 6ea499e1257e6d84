#!/usr/bin/env bash
# A throwaway OpenSSH server for tests.
#
#   sshd.sh start DIR   generate an ed25519 host key, a user key without a
#                       passphrase and one with a passphrase, authorise both,
#                       run /usr/sbin/sshd on 127.0.0.1 at a free port, wait
#                       until it accepts connections and write the facts:
#                       port, user, key, key_pass, key_pass_passphrase,
#                       known_hosts (the line for [127.0.0.1]:port),
#                       known_hosts_file (path of a file holding it),
#                       host_pubkey, host, pid, home.
#   sshd.sh stop DIR    stop the server and remove DIR.
#
# Tests run as root, so the login user is whoever runs this script
# (PermitRootLogin yes). sshd wants an absolute path to itself and the
# privilege-separation directory /run/sshd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: sshd.sh start|stop DIR"

sshd_bin=${SSHD:-/usr/sbin/sshd}

case "$cmd" in
start)
	[ -x "$sshd_bin" ] || svc_die "$sshd_bin not found (install openssh-server)"
	command -v ssh-keygen >/dev/null || svc_die "ssh-keygen not found (install openssh-client)"
	rm -rf "$dir"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 700 "$dir"
	mkdir -p /run/sshd 2>/dev/null || true
	chmod 755 /run/sshd 2>/dev/null || true

	ssh-keygen -q -t ed25519 -N '' -C ballast-test-host -f "$dir/host_ed25519" >/dev/null
	ssh-keygen -q -t ed25519 -N '' -C ballast-test-user -f "$dir/id_ed25519" >/dev/null
	pass="ballast-test-passphrase"
	ssh-keygen -q -t ed25519 -N "$pass" -C ballast-test-user-pass -f "$dir/id_pass" >/dev/null
	cat "$dir/id_ed25519.pub" "$dir/id_pass.pub" > "$dir/authorized_keys"
	chmod 600 "$dir/authorized_keys"
	user=$(id -un)
	home=$(getent passwd "$user" | cut -d: -f6)

	started=0
	for attempt in 1 2 3 4 5; do
		port=$(svc_free_port)
		cat > "$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PermitRootLogin yes
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 100
MaxSessions 100
# bash reads ~/.bashrc for a command sshd starts when it is a top-level
# shell (SHLVL below 2); the build machines' root .bashrc starts pyenv,
# 0.5-3 s per remote command. The host's dotfiles are not the suite's to
# run: starting at SHLVL=1 makes the remote shell a second level.
SetEnv SHLVL=1
EOF
		rm -f "$dir/sshd.pid"
		# -D keeps it in the foreground so -E can log; it runs in the background.
		"$sshd_bin" -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >/dev/null 2>&1 &
		echo $! > "$dir/sshd.pid.launch"
		if svc_wait_tcp "$port" 10; then started=1; break; fi
		svc_kill_pidfile "$dir/sshd.pid.launch"
	done
	[ "$started" = 1 ] || { tail -5 "$dir/sshd.log" >&2 || true; svc_die "sshd did not start in $dir"; }
	cp "$dir/sshd.pid.launch" "$dir/pid"

	echo "$port" > "$dir/port"
	echo "127.0.0.1" > "$dir/host"
	echo "$user" > "$dir/user"
	echo "$home" > "$dir/home"
	echo "$dir/id_ed25519" > "$dir/key"
	echo "$dir/id_pass" > "$dir/key_pass"
	echo "$pass" > "$dir/key_pass_passphrase"
	cut -d' ' -f1,2 "$dir/host_ed25519.pub" > "$dir/host_pubkey"
	# The fact is the line; its file is also a valid known_hosts file, whose
	# path is the known_hosts_file fact.
	echo "[127.0.0.1]:$port $(cat "$dir/host_pubkey")" > "$dir/known_hosts"
	echo "$dir/known_hosts" > "$dir/known_hosts_file"
	echo "$user@127.0.0.1:$port"
	;;
stop)
	[ -d "$dir" ] || exit 0
	svc_kill_pidfile "$dir/pid"
	rm -rf "$dir"
	;;
*)
	svc_die "usage: sshd.sh start|stop DIR"
	;;
esac

#!/usr/bin/env bash
# services: sshd http
# ballast-deploy over the "openssh" transport (the system ssh client): the
# whole ssh suite again (test_deploy_ssh.sh with BALLAST_SSH_TRANSPORT), then
# what only the system client does: a ProxyJump bastion (a second sshd)
# named in an ssh config file, a host certificate trusted only through
# @cert-authority, one connection per run (the multiplexed master) whose
# socket is gone afterwards, no ssh left running after success or failure,
# refusals in one line naming the host, and transport.options checked.
. "$(dirname "$0")/deploy_lib.sh"

SSHD_DIR=$SVC/sshd
PORT=$(cat "$SSHD_DIR/port")
USER_NAME=$(cat "$SSHD_DIR/user")

BALLAST_SSH_TRANSPORT=openssh bash "$(dirname "$0")/test_deploy_ssh.sh" > "$WORK/shared.log" 2>&1
RC=$?
sed 's/^/    /' "$WORK/shared.log"
t_check "openssh: the ssh suite passes over the openssh transport" eq "$RC" 0

# The control directory goes under $TMPDIR: a private one, so the suite can
# see the socket during a run and that nothing is left after it.
CTL=$WORK/ctl
mkdir -p "$CTL"
export TMPDIR=$CTL
# masters: the ssh processes using a socket under $CTL (none when idle)
masters() { ps -eo pid=,args= | grep -F "$CTL/ballast-ssh-" | grep -v grep | wc -l; }
leftovers() { echo "$(masters) $(ls -A "$CTL" | wc -l)"; }
# remote shells (lib/io/rshell) of the ballast-deploy whose pid is $1 (the
# remote `sh -c`, not the local ssh whose last word is the same): the
# sshd is this machine
rshells() { ps -ww -eo args= | grep -cE "^sh -c .* ballast-rsh $1\$"; }

# --- a bastion: a second sshd, reached first; the target only through it
BASTION=$WORK/bastion
"$S/tests/services/sshd.sh" start "$BASTION" > /dev/null || { t_fail "bastion sshd did not start"; t_done; exit; }
trap '"$S/tests/services/sshd.sh" stop "$BASTION" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
BPORT=$(cat "$BASTION/port")
cat > "$WORK/ssh_config" <<EOF
Host bastion
  HostName 127.0.0.1
  Port $BPORT
  User $USER_NAME
  IdentityFile $BASTION/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $BASTION/known_hosts
  BatchMode yes
Host target
  HostName 127.0.0.1
  Port $PORT
  User $USER_NAME
  IdentityFile $SSHD_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $SSHD_DIR/known_hosts
  ProxyJump bastion
EOF

# A pre-up hook (it runs here, beside ballast-deploy) records what a run
# looks like from outside while it is connected.
cat > "$WORK/seen-hook" <<EOF
#!/bin/sh
{ ls -d "$CTL"/ballast-ssh-*/m 2>/dev/null; stat -c '%a' "$CTL"/ballast-ssh-* 2>/dev/null; } > "$WORK/seen"
# the hook's parent is ballast-deploy, whose pid tags its remote shell
echo "\$PPID \$(ps -ww -eo args= | grep -cE "^sh -c .* ballast-rsh \$PPID\\\$")" > "$WORK/seen-rsh"
EOF
chmod 755 "$WORK/seen-hook"

EXTRA=", \"hooks\": {\"pre-up\": \"$WORK/seen-hook\"}" \
	new_env jump "{\"type\": \"openssh\", \"host\": \"target\", \"config_file\": \"$WORK/ssh_config\"}"
bastion_before=$(grep -c "Accepted publickey" "$BASTION/sshd.log")
target_before=$(grep -c "Accepted publickey" "$SSHD_DIR/sshd.log")
sessions_before=$(grep -c "Starting session" "$SSHD_DIR/sshd.log")
run_deploy deploy qa --release v1
t_check "jump: a deploy through the bastion exits 0" eq "$RC $(state_release) $(health_release)" "0 v1 v1"
t_check "jump: the bastion was used (one connection)" eq "$(($(grep -c "Accepted publickey" "$BASTION/sshd.log") - bastion_before))" 1
t_check "jump: one connection to the target for the whole run" eq "$(($(grep -c "Accepted publickey" "$SSHD_DIR/sshd.log") - target_before))" 1
sessions=$(($(grep -c "Starting session" "$SSHD_DIR/sshd.log") - sessions_before))
t_check "jump: ... and one ssh session on it, the remote shell that ran every command" eq "$sessions" 1
read -r deploy_pid rsh_during < "$WORK/seen-rsh" || true
t_check "jump: the remote shell ran during the run" eq "$rsh_during" 1
t_check "jump: no remote shell after the run" eq "$(rshells "$deploy_pid")" 0
t_check "jump: the master socket existed during the run" eq "$(head -n 1 "$WORK/seen" 2>/dev/null | sed "s|$CTL/ballast-ssh-[A-Za-z0-9]*/m|socket|")" socket
t_check "jump: its directory is private (0700)" eq "$(sed -n 2p "$WORK/seen" 2>/dev/null)" 700
t_check "jump: no master and no socket directory after the run" eq "$(leftovers)" "0 0"
run_deploy status qa
t_check "jump: status names the host alias, user and port from the ssh config" contains "$OUT" "$USER_NAME@target:$PORT"

# a run that fails while connected (its pre-deploy hook refuses)
printf '#!/bin/sh\necho "not today" >&2\nexit 1\n' > "$WORK/refuse-hook"
chmod 755 "$WORK/refuse-hook"
sed -i "s|\"pre-up\": \"$WORK/seen-hook\"|\"pre-deploy\": \"$WORK/refuse-hook\"|" "$CFG"
run_deploy deploy qa --release v2
t_check "jump: a run failing while connected exits 1" eq "$RC $(state_release)" "1 v1"
t_check "jump: no master left after the failed run" eq "$(leftovers)" "0 0"

run_deploy plan qa --release v2
t_check "plan: renders the ssh command as it runs (BatchMode, the master, -F)" contains "$OUT" "ssh -F $WORK/ssh_config -o BatchMode=yes -o ControlMaster=auto -o ControlPath=$CTL/ballast-ssh-"
t_check "plan: ... then the host and the remote command line" contains "$OUT" "-T target -- 'cd $APP && "
t_check "plan: no master left" eq "$(leftovers)" "0 0"

# --- a host certificate: the bastion's host key signed by a CA, and a
# known_hosts that trusts only the CA
ssh-keygen -q -t ed25519 -N '' -C ballast-test-ca -f "$WORK/ca" >/dev/null
ssh-keygen -q -s "$WORK/ca" -I ballast-test-host -h -n 127.0.0.1 "$BASTION/host_ed25519.pub" 2>/dev/null
echo "HostCertificate $BASTION/host_ed25519-cert.pub" >> "$BASTION/sshd_config"
# the old sshd must be gone (its port free) before the new one binds it,
# and the port must then answer from the new one
OLDSSHD=$(cat "$BASTION/pid"); kill "$OLDSSHD"
for _ in $(seq 1 300); do kill -0 "$OLDSSHD" 2>/dev/null || break; sleep 0.1; done
/usr/sbin/sshd -D -f "$BASTION/sshd_config" -E "$BASTION/sshd.log" </dev/null >/dev/null 2>&1 &
echo $! > "$BASTION/pid"
for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null && break; sleep 0.1; done
t_check "cert: the bastion's sshd restarted with its certificate" kill -0 "$(cat "$BASTION/pid")"
echo "@cert-authority [127.0.0.1]:$BPORT $(cut -d' ' -f1,2 "$WORK/ca.pub")" > "$WORK/ca_known_hosts"
CERT_T="{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"port\": $BPORT, \"user\": \"$USER_NAME\", \"identity\": \"$BASTION/id_ed25519\", \"known_hosts\": \"$WORK/ca_known_hosts\", \"config_file\": \"/dev/null\", \"options\": [\"IdentitiesOnly=yes\"]}"
new_env cert "$CERT_T"
run_deploy status qa
t_check "cert: a host trusted only through @cert-authority: status exits 0" eq "$RC" 0
t_check "cert: ... naming it" contains "$OUT" "$USER_NAME@127.0.0.1:$BPORT"
ssh-keygen -q -t ed25519 -N '' -C other-ca -f "$WORK/other_ca" >/dev/null
echo "@cert-authority [127.0.0.1]:$BPORT $(cut -d' ' -f1,2 "$WORK/other_ca.pub")" > "$WORK/ca_known_hosts"
run_deploy status qa
t_check "cert: a certificate from another CA is refused (exit 1)" eq "$RC" 1
t_check "cert: in one line naming the host" eq "$(printf '%s\n' "$ERR" | grep -c "127.0.0.1:$BPORT.*Host key verification failed")" 1
t_check "cert: no master left after the refusal" eq "$(leftovers)" "0 0"

# --- a changed host key: one line naming the host and the server's key,
# without ssh's banner
new_env mismatch "{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"port\": $PORT, \"user\": \"$USER_NAME\", \"identity\": \"$SSHD_DIR/key\", \"known_hosts\": \"$BASTION/known_hosts\", \"config_file\": \"/dev/null\"}"
sed "s/^\[127.0.0.1\]:$BPORT/[127.0.0.1]:$PORT/" "$BASTION/known_hosts" > "$WORK/wrong_known_hosts"
sed -i "s|$BASTION/known_hosts|$WORK/wrong_known_hosts|" "$CFG"
run_deploy deploy qa --release v1
t_check "mismatch: refused (exit 1)" eq "$RC" 1
t_check "mismatch: one line names host:port and the server key" eq "$(printf '%s\n' "$ERR" | grep -c "$USER_NAME@127.0.0.1:$PORT: cannot connect: Host key verification failed. (the server's key is SHA256:")" 1
t_check "mismatch: ssh's banner is not shown" lacks "$ERR" "@@@@"
t_check "mismatch: nothing ran" test ! -e "$APP/.ballast/state.json"
t_check "mismatch: no master left" eq "$(leftovers)" "0 0"

# --- nothing listening: the error names host and port
FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
new_env refused "{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"port\": $FREE, \"user\": \"$USER_NAME\", \"config_file\": \"/dev/null\"}"
run_deploy status qa
t_check "refused: exit 1" eq "$RC" 1
t_check "refused: the error names host:port" contains "$ERR" "$USER_NAME@127.0.0.1:$FREE: cannot connect: ssh: connect to host 127.0.0.1 port $FREE: Connection refused"
t_check "refused: no master, no socket directory" eq "$(leftovers)" "0 0"

# --- the configuration is checked before anything runs
new_env bad "{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"options\": [\"ServerAliveInterval=5\", \"ProxyCommand=nc %h %p\"]}"
run_deploy status qa
t_check "options: ProxyCommand refused (exit 2)" eq "$RC" 2
t_check "options: one line naming the entry" contains "$ERR" "environments.qa.transport.options[1]: refused: it runs or reads commands"
new_env bad2 "{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"options\": [\"ControlPath=/tmp/x\"]}"
run_deploy status qa
t_check "options: ballast's own ControlPath refused (exit 2)" eq "$RC" 2
t_check "options: ... saying ballast sets it" contains "$ERR" "transport.options[0]: refused: ballast sets it"
new_env bad3 "{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"key\": \"/k\"}"
run_deploy status qa
t_check "key: not for openssh (exit 2, use identity)" eq "$RC $(printf '%s' "$ERR" | grep -c 'transport.key: not for type "openssh" (use identity')" "2 1"
new_env bad4 "{\"type\": \"openssh\", \"host\": \"-oProxyCommand=x\"}"
run_deploy status qa
t_check "host: a leading '-' is refused (exit 2)" eq "$RC" 2
t_check "no ssh left after all of it" eq "$(leftovers)" "0 0"

t_done

#!/usr/bin/env bash
# services: sshd http
# ballast-deploy over the ssh transport to a real sshd on 127.0.0.1 (the
# target's files are on this machine, so the suite can inspect them): a
# deploy, a rollback on failure, the remote command lines, a strict host
# key, and a connection dropped mid-deploy (reconnect and roll back; and
# when the server stays down, a rerun completes the recovery).
# BALLAST_SSH_TRANSPORT=openssh runs the same checks over the system ssh
# client (test_deploy_openssh.sh does, then its own cases).
. "$(dirname "$0")/deploy_lib.sh"

SSHD_DIR=$SVC/sshd
PORT=$(cat "$SSHD_DIR/port")
case ${BALLAST_SSH_TRANSPORT:-ssh} in
ssh) TRANSPORT="{\"type\": \"ssh\", \"host\": \"127.0.0.1\", \"port\": $PORT, \"user\": \"$(cat "$SSHD_DIR/user")\", \"key\": \"$(cat "$SSHD_DIR/key")\", \"known_hosts\": \"$(cat "$SSHD_DIR/known_hosts_file")\"}" ;;
openssh) TRANSPORT="{\"type\": \"openssh\", \"host\": \"127.0.0.1\", \"port\": $PORT, \"user\": \"$(cat "$SSHD_DIR/user")\", \"identity\": \"$(cat "$SSHD_DIR/key")\", \"known_hosts\": \"$(cat "$SSHD_DIR/known_hosts_file")\", \"config_file\": \"/dev/null\"}" ;;
*) echo "BALLAST_SSH_TRANSPORT: expected ssh or openssh" >&2; exit 2 ;;
esac

new_env ssh "$TRANSPORT"
run_deploy deploy qa --release v1
t_check "ssh: first deploy exits 0" eq "$RC" 0
t_check "ssh: state.json written on the target" eq "$(state_release)" v1
t_check "ssh: health serves v1" eq "$(health_release)" v1
t_check "ssh: compose ran in the app dir" contains "$(grep '"up"' "$STANDIN/calls.jsonl")" "\"cwd\":\"$APP\""
run_deploy deploy qa --release v2
t_check "ssh: second deploy exits 0" eq "$RC $(state_release) $(health_release)" "0 v2 v2"
t_check "ssh: history appended over ssh" eq "$(wc -l < "$APP/.ballast/history.jsonl")" 2

touch "$STANDIN/fail-up-v3"
run_deploy deploy qa --release v3
t_check "ssh: up failure rolls back (exit 1)" eq "$RC" 1
t_check "ssh: up failure: back on v2" eq "$(state_release) $(health_status) $(health_release)" "v2 200 v2"
rm "$STANDIN/fail-up-v3"

run_deploy plan qa --release v3
t_check "ssh: plan shows the remote command line, quoted" contains "$OUT" "cd $APP && BACKEND_IMAGE=example/backend:v3 WORKER_IMAGE=example/worker:v3 $S/tests/standin/compose --standin $STANDIN -f $APP/.ballast/releases/v3/compose/docker-compose.yml --env-file $APP/.ballast/releases/v3/env --project-directory $APP pull"
run_deploy status qa
t_check "ssh: status names the target" contains "$OUT" "$(cat "$SSHD_DIR/user")@127.0.0.1:$PORT"

# a host key that does not match is refused before anything runs
echo "[127.0.0.1]:$PORT ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" > "$WORK/bad_known_hosts"
sed "s|$(cat "$SSHD_DIR/known_hosts_file")|$WORK/bad_known_hosts|" "$CFG" > "$WORK/bad.json"
OUT=$("$DEPLOY" --config "$WORK/bad.json" deploy qa --release v3 2>&1); RC=$?
t_check "ssh: a changed host key is refused" eq "$RC" 1
t_check "ssh: the refusal names the fingerprint" contains "$OUT" "SHA256:"
t_check "ssh: nothing ran with a bad host key" eq "$(state_release)" v2

# the connection drops during `up` (the stand-in kills its sshd session):
# one reconnect, then the rollback
echo sshd > "$STANDIN/crash-up-v3"
run_deploy deploy qa --release v3
t_check "ssh drop: the deploy reconnects and rolls back (exit 1)" eq "$RC" 1
t_check "ssh drop: it says it reconnected" contains "$ERR" "reconnecting for the rollback"
t_check "ssh drop: state v2, no pending" eq "$(json "$APP/.ballast/state.json" '"\(.release) \(has("pending"))"')" "v2 false"
t_check "ssh drop: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"
t_check "ssh drop: lock released" test ! -e "$APP/.ballast/lock"

# the server goes away for good mid-deploy: the run cannot recover and says
# so; once the server is back, a rerun of rollback completes the recovery
echo sshd+ > "$STANDIN/crash-up-v3"
run_deploy deploy qa --release v3
t_check "ssh down: exit 4 (needs attention)" eq "$RC" 4
t_check "ssh down: failed-needs-attention" contains "$ERR" "failed-needs-attention"
t_check "ssh down: pending left on the target" eq "$(json "$APP/.ballast/state.json" .pending.release)" v3
rm "$STANDIN/crash-up-v3"
# restart sshd with the same config; the fixture's stop step kills this pid
/usr/sbin/sshd -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" </dev/null >/dev/null 2>&1 &
echo $! > "$SSHD_DIR/pid"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
run_deploy rollback qa
t_check "ssh rerun: rollback completes the recovery (exit 0)" eq "$RC" 0
t_check "ssh rerun: state v2, no pending" eq "$(json "$APP/.ballast/state.json" '"\(.release) \(has("pending"))"')" "v2 false"
t_check "ssh rerun: health 200 from v2" eq "$(health_status) $(health_release)" "200 v2"
t_check "ssh rerun: lock released" test ! -e "$APP/.ballast/lock"

t_done

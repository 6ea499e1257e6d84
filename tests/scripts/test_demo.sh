#!/usr/bin/env bash
# services: docker
# The README's first command tells its whole story on real Docker (the
# suite's private engine, handed over with BALLAST_DEMO_DOCKER) and every
# step ends as expected: images built and pushed to the local registry,
# deploy, nightly backup (the containers stopped and started around the
# volume snapshot), drill, a healthy deploy, a failed deploy rolled back by
# the stored down SQL, and a failed irreversible deploy rolled back by a
# data restore, each deploy's containers checked with docker inspect. The
# stand-in runtime's story is test_demo_standin. Skipped in the ASan pass
# (its binaries' paths are covered by the deploy, backup and migrate suites
# there).
. "$(dirname "$0")/lib.sh"
SVC=${BALLAST_TEST_SVC:?}
host=$(cat "$SVC/docker/host")
out=$(BALLAST_DEMO_BUILD=$B BALLAST_DEMO_DOCKER=$SVC/docker "$S/scripts/demo.sh" 2>&1); rc=$?
[ "$rc" = 0 ] && t_ok || { t_fail "scripts/demo.sh exited $rc"; printf '%s\n' "$out" | tail -60 >&2; }
t_check "the demo names the runtime it used" contains "$out" "containers:  Docker $(DOCKER_HOST=$host "$(cat "$SVC/docker/docker")" version --format '{{.Server.Version}}'), compose 2."
t_check "the demo used the suite's private engine" contains "$out" "private engine at $host (BALLAST_DEMO_DOCKER)"
t_check "the demo did not fall back to the stand-in" lacks "$out" "NOT Docker"
t_contains "$out" "every step ended as expected" "demo summary"
row() { # STEP OUTCOME: the summary's row for STEP is ok and its outcome starts with OUTCOME
	printf '%s\n' "$out" | grep -E "^  $1 +[0-9.]+s +ok +" | sed -E "s/^  $1 +[0-9.]+s +ok +//"
}
t_check "images row" eq "$(row 'build \+ push images')" "backend=4 frontend=4 etl=4"
t_check "lint row" eq "$(row 'lint docker-compose.demo.yml')" "clean"
t_check "repository init row" starts "$(row 'repository init')" "id "
t_check "v1 row" eq "$(row 'deploy v1.0.0')" "deployed; health v1.0.0; schema 20261101090100; containers backend=v1.0.0"
t_check "nightly backup row" contains "$(row 'nightly backup')" "; 3 containers stopped and started around the volume snapshot"
t_check "drill row" eq "$(row 'restore drill')" "passed: every table's rows match"
t_check "v2 row" eq "$(row 'deploy v2.0.0')" "deployed; health v2.0.0; schema 20261108120000; containers backend=v2.0.0"
t_check "v3 row" eq "$(row 'deploy v3.0.0-broken')" "rolled-back; health v2.0.0; schema 20261108120000; containers backend=v2.0.0"
t_check "v4 row" eq "$(row 'deploy v4.0.0-broken')" "rolled-back-with-restore; health v2.0.0; schema 20261108120000; containers backend=v2.0.0"
t_check "history row" eq "$(row history)" "4 lines"
t_check "every container check passed" contains "$out" "check: release of each running container's image (docker inspect) = backend=v2.0.0 frontend=v2.0.0 etl=v2.0.0"
# The demo leaves the suite's engine as it found it.
t_check "no container of the demo is left" eq "$(DOCKER_HOST=$host "$(cat "$SVC/docker/docker")" ps -aq --filter label=com.docker.compose.project=audit_app)" ""
t_done

#!/usr/bin/env bash
# ballast-deploy lint on the audit_app example files (prod clean, dev's and
# qa's known relaxations reported) and on broken copies of prod: each break
# is reported with its rule, service and fix, and exits 4.
. "$(dirname "$0")/lib.sh"
ex=$S/examples/audit_app
bin=$B/ballast-deploy
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# --- the example files ---
t_run 0 "$bin" lint --file "$ex/docker-compose.prod.yml"
t_contains "$t_out" "docker-compose.prod.yml: clean, 6 services checked (3 allowed by label)" "prod clean"
t_contains "$t_out" "traefik: non-root:" "prod shows the traefik exemption"
t_contains "$t_out" "(allowed by label ballast.lint.allow)" "prod exemption marked"
t_not_contains "$t_out" "fix:" "prod clean has nothing to fix"
t_run 0 "$bin" --config "$ex/ballast.json" lint prod
t_contains "$t_out" "clean" "lint prod via ballast.json"

t_run 4 "$bin" --config "$ex/ballast.json" lint dev
dev=$t_out
t_lines "$t_err" 1 "dev error line"
t_contains "$t_err" "violations in 6 services" "dev error line"
# dev's documented relaxations: published debug ports, root, writable root
# filesystems, no limits, no log rotation...
t_contains "$dev" "traefik: ports: publishes host port 8080" "dev traefik dashboard"
t_contains "$dev" "backend: ports: publishes host port 8000" "dev backend port"
t_contains "$dev" "postgres: ports: publishes host port 5432 (\"127.0.0.1:5432:5432\")" "dev postgres port"
for svc in traefik backend frontend etl postgres redis; do
	for rule in non-root no-new-privileges read-only cpu-limit memory-limit logging; do
		t_contains "$dev" "$svc: $rule:" "dev $svc $rule"
	done
done
# ...but not what it does keep: healthchecks, restarts, port 80, postgres_data.
t_not_contains "$dev" ": healthcheck:" "dev has healthchecks"
t_not_contains "$dev" ": restart:" "dev has restart policies"
t_not_contains "$dev" "publishes host port 80 " "dev may publish 80"
t_not_contains "$dev" "pg-data-volume" "dev keeps postgres_data"
t_contains "$dev" "    fix: " "dev fixes"
nfind=$(printf '%s\n' "$dev" | grep -c '^/.*:[0-9]*: ')
t_contains "$dev" "docker-compose.dev.yml: $nfind violations in 6 services" "dev summary counts its lines"

t_run 4 "$bin" --config "$ex/ballast.json" lint qa
qa=$t_out
t_contains "$qa" "backend: non-root:" "qa backend root"
t_contains "$qa" "postgres: cpu-limit:" "qa limits"
t_not_contains "$qa" ": ports:" "qa publishes only 80 and 443"
t_not_contains "$qa" ": logging:" "qa rotates logs"

# --json: one terminal object; lint fails (exit 4), so it is the error line
# and it carries the result with every finding.
t_run 4 "$bin" --json lint --file "$ex/docker-compose.dev.yml"
t_lines "$t_out" 1 "dev --json: one line"
res=$(printf '%s\n' "$t_out" | tail -n1)
printf '%s' "$res" | python3 -c '
import json, sys
e = json.load(sys.stdin)
assert e["event"] == "error" and e["code"] == 4 and "violations" in e["msg"], e
o = e["result"]
assert o["command"] == "lint" and o["clean"] is False, o
assert o["services"] == 6 and o["violations"] == len(o["findings"]) == int(sys.argv[1]), o["violations"]
f = o["findings"][0]
assert set(f) == {"rule", "severity", "file", "service", "line", "problem", "fix", "allowed"}, f
assert any(x["rule"] == "ports" and x["service"] == "postgres" for x in o["findings"])
' "$nfind" && t_ok || t_fail "dev --json content"
t_run 0 "$bin" --json --config "$ex/ballast.json" lint prod
printf '%s' "$t_out" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["clean"] is True and o["violations"] == 0 and o["allowed"] == 3 and o["environment"] == "prod", o
' && t_ok || t_fail "prod --json: $t_out"

# --- broken copies of prod ---
# break NAME 'old' 'new' EXPECTED_RULE@SERVICE...: replace old (which must
# occur) by new in a copy of prod, lint it, and expect exactly those
# violations.
break_prod() {
	local name=$1 old=$2 new=$3; shift 3
	local f=$tmp/$name.yml want got
	python3 - "$ex/docker-compose.prod.yml" "$f" "$old" "$new" <<'PY' || { t_fail "$name: pattern not in prod"; return; }
import sys
src, dst, old, new = sys.argv[1:5]
s = open(src).read()
if old not in s:
    sys.exit(1)
open(dst, "w").write(s.replace(old, new, 1))
PY
	t_run 4 "$bin" --json lint --file "$f"
	got=$(printf '%s\n' "$t_out" | tail -n1 | python3 -c '
import json, sys
o = json.load(sys.stdin)["result"]
print(" ".join(sorted("%s@%s" % (x["rule"], x["service"]) for x in o["findings"] if not x["allowed"])))')
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] && t_ok || t_fail "$name: got '$got', want '$want'"
	t_run 4 "$bin" lint --file "$f"
	t_contains "$t_out" "    fix: " "$name has a fix"
}

all=(traefik backend frontend etl postgres redis)
break_prod no-nnp '    - no-new-privileges:true' '    - seccomp:unconfined' \
	"${all[@]/#/no-new-privileges@}"
break_prod no-rotation '      max-file: "5"' '' "${all[@]/#/logging@}"
break_prod no-restart '  restart: unless-stopped' '  restart: "no"' "${all[@]/#/restart@}"
break_prod backend-rw '    user: *app-user
    read_only: true' '    user: *app-user
    read_only: false' read-only@backend
break_prod frontend-root '    user: *app-user
    read_only: true
    tmpfs:
      - /tmp:size=64m,noexec,nosuid
      - /app/.next' '    read_only: true
    tmpfs:
      - /tmp:size=64m,noexec,nosuid
      - /app/.next' non-root@frontend
break_prod backend-uid0 '  backend:
    <<: *hardening
' '  backend:
    <<: *hardening
    privileged: true
' privileged@backend
break_prod pg-port '    shm_size: 256m' '    shm_size: 256m
    ports: ["127.0.0.1:5432:5432"]' ports@postgres
break_prod pg-bind '      - postgres_data:/var/lib/postgresql/data' '      - ./pgdata:/var/lib/postgresql/data' \
	pg-data-volume@postgres
break_prod etl-writes '      - downloads:/app/downloads
    cpus: 1.0
    mem_limit: 1g' '      - downloads:/app/downloads
      - ./etl-config:/app/config
    cpus: 1.0
    mem_limit: 1g' writable-paths@etl
break_prod redis-nolimit '    cpus: 0.5
    mem_limit: 256m
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]' '    healthcheck:
      test: ["CMD", "redis-cli", "ping"]' cpu-limit@redis memory-limit@redis
break_prod frontend-nohc '      test: ["CMD", "node"' '      disable: true
      test: ["CMD", "node"' healthcheck@frontend
break_prod no-tmp '    tmpfs:
      - /tmp:size=64m,noexec,nosuid
    environment:
      DATABASE_URL' '    environment:
      DATABASE_URL' tmp-tmpfs@backend
break_prod host-net '  redis:
    <<: *hardening' '  redis:
    <<: *hardening
    network_mode: host' host-namespaces@redis ports@redis

# An exemption with a typo is an error, not a silent pass.
python3 - "$ex/docker-compose.prod.yml" "$tmp/typo.yml" <<'PY'
import sys
s = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(s.replace("ballast.lint.allow: non-root", "ballast.lint.allow: nonroot", 1))
PY
t_run 2 "$bin" lint --file "$tmp/typo.yml"
t_lines "$t_err" 1 "typo in label"
t_contains "$t_err" "services.traefik.labels.ballast.lint.allow: unknown rule 'nonroot' (did you mean \"non-root\"?)" "typo in label"

# --- correctness rules, warnings, includes ---
{ echo "services:"; compose_hardened web nginx:latest "    container_name: web"; } > "$tmp/latest.yml"
# A moving tag is a warning where the environment is not immutable...
t_run 0 "$bin" lint --file "$tmp/latest.yml"
t_contains "$t_out" "latest.yml:3: web: image-tag: image \"nginx:latest\" has the moving tag \"latest\" (warning)" "latest warns"
t_contains "$t_out" "latest.yml: clean, 1 service checked, 1 warning" "warning counted, not failing"
t_run 0 "$bin" --json lint --file "$tmp/latest.yml"
printf '%s' "$t_out" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["event"] == "result" and o["clean"] is True and o["warnings"] == 1 and o["violations"] == 0, o
f = o["findings"][0]
assert f["rule"] == "image-tag" and f["severity"] == "warning" and f["file"].endswith("latest.yml"), f
' && t_ok || t_fail "warning in --json: $t_out"
# ...and an error where it is (the environment's "immutable", or --immutable).
t_run 4 "$bin" lint --file "$tmp/latest.yml" --immutable
t_contains "$t_out" "in an immutable environment" "--immutable fails latest"
t_contains "$t_err" "(first: web: image-tag)" "--immutable error line"
printf '{"project": "x", "environments": {"m": {"compose_file": "latest.yml"}, "i": {"compose_file": "latest.yml", "immutable": true}}}\n' > "$tmp/imm.json"
t_run 0 "$bin" --config "$tmp/imm.json" lint m
t_run 4 "$bin" --config "$tmp/imm.json" lint i
t_contains "$t_out" "image-tag: image \"nginx:latest\" has the moving tag \"latest\" in an immutable environment" "immutable env fails latest"

# Duplicate host ports and container names, an unknown key with a hint.
{ echo "services:"; compose_hardened web nginx:1.27 '    container_name: web
    ports: ["127.0.0.1:8080:80"]'
  compose_hardened api nginx:1.27 '    container_name: web
    ports: ["8080:8080"]
    restrat: always'; } > "$tmp/dup.yml"
t_run 4 "$bin" lint --file "$tmp/dup.yml"
t_contains "$t_out" "api: duplicate-ports: host port 8080/tcp is already published by service web ($tmp/dup.yml:14)" "duplicate port"
t_contains "$t_out" "api: container-name: container_name \"web\" is already used by service web ($tmp/dup.yml:13)" "duplicate container_name"
t_contains "$t_out" "api: unknown-key: services.api.restrat: unknown key (compose refuses the file)
    fix: did you mean \"restart\"?" "unknown key with did-you-mean"

# include: followed, relative to the including file; its services are
# reported with their own file and line.
mkdir -p "$tmp/inc/db"
{ echo "include:"; echo "  - db/db.yml"; echo "services:"; compose_hardened web nginx:1.27 '    ports: ["127.0.0.1:5432:80"]'; } > "$tmp/inc/compose.yml"
{ echo "services:"; compose_hardened db postgres:16 '    ports: ["127.0.0.1:5432:5432"]
    volumes: ["pg:/var/lib/postgresql/data"]'; echo "volumes:"; echo "  pg: {}"; } > "$tmp/inc/db/db.yml"
t_run 4 "$bin" lint --file "$tmp/inc/compose.yml"
t_contains "$t_out" "$tmp/inc/db/db.yml:13: db: duplicate-ports: host port 5432/tcp on 127.0.0.1 is already published by service web ($tmp/inc/compose.yml:15)" "included file's own file:line"
t_contains "$t_out" "compose.yml: 3 violations in 2 services" "includes counted"
printf 'include: [db/none.yml]\nservices: {}\n' > "$tmp/inc/missing.yml"
t_run 2 "$bin" lint --file "$tmp/inc/missing.yml"
t_lines "$t_err" 1 "missing include: one line"
t_contains "$t_err" "$tmp/inc/missing.yml:1: include: $tmp/inc/db/none.yml: no such file" "missing include"
printf 'include: [b.yml]\nservices: {}\n' > "$tmp/inc/a.yml"
printf 'include: [./db/../a.yml]\n' > "$tmp/inc/b.yml"
t_run 2 "$bin" lint --file "$tmp/inc/a.yml"
t_lines "$t_err" 1 "include cycle: one line"
t_contains "$t_err" "include: $tmp/inc/a.yml is included again (a cycle: $tmp/inc/a.yml -> $tmp/inc/b.yml -> $tmp/inc/a.yml)" "include cycle"
printf 'services:\n  a:\n    extends: {file: base.yml, service: a}\n' > "$tmp/ext.yml"
t_run 2 "$bin" lint --file "$tmp/ext.yml"
t_contains "$t_err" "services.a.extends: not resolved" "extends refused with the reason"

# --- usage and unlintable files: exit 2, one line ---
t_run 2 "$bin" lint
t_lines "$t_err" 1 "lint without args"
t_contains "$t_err" "give an environment or --file COMPOSE" "lint without args"
t_run 2 "$bin" --config "$ex/ballast.json" lint prod --file "$ex/docker-compose.prod.yml"
t_contains "$t_err" "not both" "env and --file"
t_run 2 "$bin" lint --file
t_contains "$t_err" "needs a compose file" "--file without value"
t_run 2 "$bin" lint --file "$tmp/none.yml"
t_contains "$t_err" "$tmp/none.yml" "missing file named"
printf 'services:\n  a:\n    image: [x\n' > "$tmp/bad.yml"
t_run 2 "$bin" lint --file "$tmp/bad.yml"
t_lines "$t_err" 1 "bad yaml"
t_contains "$t_err" "$tmp/bad.yml:4:" "bad yaml names line"
t_run 2 "$bin" --config "$ex/ballast.json" lint staging
t_contains "$t_err" "environments.staging: no such environment (have: dev, qa, prod)" "unknown env"
printf '{"project": "x", "environments": {"p": {"compose_file": "${LINT_T_UNSET}.yml"}}}\n' > "$tmp/c.json"
t_run 2 env -u LINT_T_UNSET "$bin" --config "$tmp/c.json" lint p
t_contains "$t_err" 'environments.p.compose_file: undefined variable ${LINT_T_UNSET}' "undefined var in compose_file"
# Relative compose_file resolves from the config's directory, not the cwd.
mkdir -p "$tmp/proj" && cp "$ex/docker-compose.prod.yml" "$tmp/proj/stack.yml"
printf '{"project": "x", "environments": {"p": {"compose_file": "stack.yml"}}}\n' > "$tmp/proj/ballast.json"
cd /
t_run 0 "$bin" --config "$tmp/proj/ballast.json" lint p
t_contains "$t_out" "$tmp/proj/stack.yml: clean" "relative compose_file"
cd "$tmp"
# Without compose_file, deploy's default docker-compose.yml.
cp "$ex/docker-compose.dev.yml" "$tmp/proj/docker-compose.yml"
printf '{"project": "x", "environments": {"d": {"app_dir": "/srv/x"}}}\n' > "$tmp/proj/default.json"
t_run 4 "$bin" --config "$tmp/proj/default.json" lint d
t_contains "$t_out" "$tmp/proj/docker-compose.yml: " "default compose_file"
t_run 0 "$bin" lint --help
t_contains "$t_out" "lint ENV|--file COMPOSE" "lint --help"
t_contains "$t_out" "--immutable" "lint --help names --immutable"
t_done

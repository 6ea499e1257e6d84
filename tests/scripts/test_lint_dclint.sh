#!/usr/bin/env bash
# ballast-deploy lint beside dclint (the npm compose linter, pinned in
# tests/services/package.json) on the example files and the compose corpus
# (tests/data/compose-corpus): every correctness finding of dclint must be
# a finding of ballast too (the rule map below), ballast's runtime-hardening
# findings on the corpus must be there, and dclint must run offline.
. "$(dirname "$0")/lib.sh"
bin=$B/ballast-deploy
svc=$S/tests/services
dclint=$svc/node_modules/dclint/bin/dclint.cjs
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$dclint" ]; then
	(cd "$svc" && npm install --no-audit --no-fund --silent >/dev/null 2>&1) ||
		{ t_fail "dclint missing and npm install failed in $svc (run scripts/deps.sh)"; t_done; exit 1; }
fi
t_run 0 node "$dclint" --version
t_contains "$t_out" "3.1.0" "the pinned dclint"

files=("$S"/examples/audit_app/docker-compose.*.yml "$S"/tests/data/compose-corpus/*.yml)
# dclint on every file at once, with no network: it needs none. Its JSON
# goes to a file (-o): through a pipe node cuts stdout at 128 KiB on exit.
# dclint exits 1 when it finds errors, which it does.
net=()
if unshare -n true 2>/dev/null; then net=(unshare -n); fi
"${net[@]}" node "$dclint" "${files[@]}" -f json -o "$tmp/dclint.json" >"$tmp/dclint.out" 2>&1
rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] && t_ok || t_fail "dclint exited $rc: $(tail -5 "$tmp/dclint.out")"
[ ${#net[@]} -gt 0 ] && echo "ok - dclint ran without a network" || echo "# no unshare -n here: dclint ran with the network"

# ballast on each file: its --json result (exit 0/4), or exit 2 and the
# error line for a file that is not a compose file.
for f in "${files[@]}"; do
	"$bin" --json lint --file "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	printf '%s\t%s\t' "$f" "$rc" >>"$tmp/ballast.tsv"
	tail -n1 "$tmp/out" | tr -d '\n' >>"$tmp/ballast.tsv"
	printf '\n' >>"$tmp/ballast.tsv"
done

python3 - "$tmp/dclint.json" "$tmp/ballast.tsv" "$S" <<'PY' && t_ok || t_fail "dclint vs ballast (above)"
import json, os, sys

# dclint's correctness rules and the ballast rule that finds the same
# mistake ("exit 2": ballast refuses the file). Keep docs/lint.md's
# comparison table in step.
CORRECTNESS = {
    "invalid-yaml": "exit 2",
    "invalid-schema": "unknown-key",            # additionalProperties only, see below
    "no-duplicate-exported-ports": "duplicate-ports",
    "no-duplicate-container-names": "container-name",
    "service-container-name-regex": "container-name",
    "service-image-require-explicit-tag": "image-tag",
}
# dclint's style and preference rules: nothing to compare.
# no-unbound-port-interfaces is a policy (bind an address); ballast's
# ports rule has its own (publish only 80/443); no-build-and-image and
# no-version-field are preferences compose itself accepts.
NOT_COMPARED = {
    "no-unbound-port-interfaces", "no-build-and-image", "no-version-field",
    "require-project-name-field", "require-quotes-in-ports", "no-quotes-in-volumes",
    "service-keys-order", "services-alphabetical-order", "service-ports-alphabetical-order",
    "service-dependencies-alphabetical-order", "top-level-properties-order",
}
# ballast's runtime-hardening findings on the corpus that must stay
# (dclint has no rule for any of them).
HARDENING = {
    "monitoring.yml": ["host-namespaces@node-exporter", "host-mounts@node-exporter",
                       "privileged@cadvisor", "docker-socket@cadvisor", "host-mounts@cadvisor",
                       "devices@cadvisor"],
    "proxy-host.yml": ["docker-socket@traefik", "docker-socket@portainer",
                       "docker-socket@runner", "capabilities@runner"],
}
dclint_path, ballast_path, src = sys.argv[1:4]
bad = []
ballast = {}
for line in open(ballast_path):
    f, rc, out = line.rstrip("\n").split("\t", 2)
    rc = int(rc)
    res = None
    if rc in (0, 4):
        o = json.loads(out)
        res = o["result"] if o.get("event") == "error" else o
    ballast[os.path.realpath(f)] = (rc, res)

def has(res, rule, service=None, path=None):
    for x in res["findings"]:
        if x["rule"] != rule:
            continue
        if service is not None and x["service"] != service:
            continue
        if path is not None and not x["problem"].startswith(path):
            continue
        return True
    return False

seen = {}
for fr in json.load(open(dclint_path)):
    f = os.path.realpath(os.path.join(src, fr["filePath"]) if not os.path.isabs(fr["filePath"]) else fr["filePath"])
    if f not in ballast:
        f = os.path.realpath(fr["filePath"])
    rc, res = ballast[f]
    name = os.path.basename(f)
    for m in fr["messages"]:
        rule = m["rule"]
        if rule in NOT_COMPARED:
            continue
        if rule not in CORRECTNESS:
            bad.append("%s: dclint rule %s is in neither table: classify it" % (name, rule))
            continue
        want = CORRECTNESS[rule]
        seen[rule] = seen.get(rule, 0) + 1
        if want == "exit 2":
            if rc != 2:
                bad.append("%s: dclint %s, ballast exited %d" % (name, rule, rc))
            continue
        if res is None:
            bad.append("%s: dclint %s, ballast exited %d" % (name, rule, rc))
            continue
        if rule == "invalid-schema":
            msg = m["message"]
            if "additionalProperties" not in msg:
                bad.append("%s: dclint schema error ballast does not check: %s" % (name, msg))
                continue
            ip = msg.split('instancePath="', 1)[1].split('"', 1)[0]
            parts = ip.strip("/").split("/") if ip else []
            if parts[:1] == ["services"] and len(parts) >= 2:
                ok = has(res, want, parts[1], ".".join(parts) + ".")
            else:
                ok = any(x["rule"] == want and x["service"] is None and
                         (not parts or x["problem"].startswith(".".join(parts) + "."))
                         for x in res["findings"])
        else:
            ok = has(res, want, m.get("data", {}).get("serviceName"))
        if not ok:
            bad.append("%s:%s: dclint %s (%s) has no ballast %s finding" %
                       (name, m.get("line"), rule, m["message"][:120], want))
for name, wants in HARDENING.items():
    rc, res = ballast[os.path.realpath(os.path.join(src, "tests/data/compose-corpus", name))]
    got = {"%s@%s" % (x["rule"], x["service"]) for x in res["findings"]}
    for w in wants:
        if w not in got:
            bad.append("%s: ballast lost its %s finding" % (name, w))
# The corpus exercises every correctness rule of dclint's.
for rule in CORRECTNESS:
    if not seen.get(rule):
        bad.append("the corpus has no case of dclint's %s" % rule)
for b in bad:
    print("    " + b, file=sys.stderr)
print("# dclint correctness findings, each found by ballast: " +
      ", ".join("%s %d" % (r, n) for r, n in sorted(seen.items())))
sys.exit(1 if bad else 0)
PY

# What only ballast sees: the included file's services (dclint lints the
# including file alone).
t_run 4 "$bin" lint --file "$S/tests/data/compose-corpus/with-include.yml"
t_contains "$t_out" "included/db.yml:6: db: duplicate-ports:" "include followed"
t_done

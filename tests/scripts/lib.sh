# Shared by every shell suite: the one assertion dialect, each failure
# naming what failed. Suites get BALLAST_BINARY_DIR, BALLAST_SOURCE_DIR and
# BALLAST_TEST_SVC.
#
# A check is a description and a predicate:
#   t_check "status names the release" contains "$OUT" "v2"
# prints "ok - DESCRIPTION", or "FAIL: DESCRIPTION" with what the predicate
# expected (and the last lines of $ERR, when a suite keeps a command's
# stderr there). The predicates (eq, ne, contains, starts, lacks) are plain
# commands, usable in conditions too. t_run, t_contains, t_not_contains and
# t_lines are shorthands for frequent checks; t_done ends a suite with its
# count and its exit status.
set -u
B=${BALLAST_BINARY_DIR:?run through ctest}
S=${BALLAST_SOURCE_DIR:?run through ctest}
t_failures=0
t_count=0

t_fail() { echo "FAIL: $*" >&2; t_failures=$((t_failures + 1)); t_count=$((t_count + 1)); }
t_ok() { t_count=$((t_count + 1)); }

eq() { [ "$1" = "$2" ] || { echo "    expected [$2], got [$1]" >&2; return 1; }; }
ne() { [ "$1" != "$2" ] || { echo "    expected something else than [$2]" >&2; return 1; }; }
contains() { case "$1" in *"$2"*) return 0 ;; esac; echo "    [$2] not found in: $(printf '%s' "$1" | tail -c 2000)" >&2; return 1; }
starts() { case "$1" in "$2"*) return 0 ;; esac; echo "    [$1] does not start with [$2]" >&2; return 1; }
lacks() { case "$1" in *"$2"*) echo "    [$2] must not appear in: $1" >&2; return 1 ;; esac; return 0; }

t_check() { # DESCRIPTION PREDICATE ARGS...
	local d=$1; shift
	if "$@"; then
		t_ok
		echo "ok - $d"
	else
		t_fail "$d${ERR:+ (last stderr: $(printf '%s' "$ERR" | tail -n 3))}"
	fi
}

# t_run EXPECTED_RC CMD...: run, keep stdout in $t_out and stderr in $t_err.
t_run() {
	local want=$1; shift
	local of ef
	of=$(mktemp); ef=$(mktemp)
	"$@" >"$of" 2>"$ef"
	t_rc=$?
	t_out=$(cat "$of"); t_err=$(cat "$ef")
	rm -f "$of" "$ef"
	if [ "$t_rc" != "$want" ]; then
		t_fail "$* exited $t_rc, expected $want; stderr: $t_err"
	else
		t_ok
	fi
}

t_contains() { # HAYSTACK NEEDLE WHAT
	case "$1" in
	*"$2"*) t_ok ;;
	*) t_fail "$3: expected to contain '$2', got: $1" ;;
	esac
}

t_not_contains() {
	case "$1" in
	*"$2"*) t_fail "$3: must not contain '$2', got: $1" ;;
	*) t_ok ;;
	esac
}

t_lines() { # TEXT N WHAT
	local n
	n=$(printf '%s\n' "$1" | grep -c .)
	[ "$n" = "$2" ] && t_ok || t_fail "$3: expected $2 line(s), got $n: $1"
}

t_done() {
	echo "$t_count checks, $t_failures failures"
	[ "$t_failures" = 0 ]
}

# compose_hardened NAME IMAGE [EXTRA_LINES]: a compose service (two-space
# indented, for under services:) that passes every hardening rule of
# ballast-deploy lint (docs/lint.md), with EXTRA_LINES appended.
compose_hardened() {
	printf '  %s:\n    image: %s\n' "$1" "$2"
	cat <<'EOF'
    user: "10001:10001"
    security_opt: ["no-new-privileges:true"]
    read_only: true
    tmpfs: ["/tmp:size=64m"]
    cpus: 0.5
    mem_limit: 256m
    healthcheck: {test: ["CMD", "true"]}
    restart: unless-stopped
    logging: {driver: json-file, options: {max-size: "10m", max-file: "3"}}
EOF
	[ -z "${3:-}" ] || printf '%s\n' "$3"
}

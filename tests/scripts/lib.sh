# Shared by the shell suites: assertions that name what failed.
# Suites get BALLAST_BINARY_DIR, BALLAST_SOURCE_DIR and BALLAST_TEST_SVC.
set -u
B=${BALLAST_BINARY_DIR:?run through ctest}
S=${BALLAST_SOURCE_DIR:?run through ctest}
t_failures=0
t_count=0

t_fail() { echo "FAIL: $*" >&2; t_failures=$((t_failures + 1)); }
t_ok() { t_count=$((t_count + 1)); }

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

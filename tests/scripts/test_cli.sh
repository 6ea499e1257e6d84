#!/usr/bin/env bash
# The three binaries' shared interface: help, version, unknown commands and
# options, and configuration errors (exit 2, one line naming file and path).
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for tool in backup migrate deploy; do
	bin=$B/ballast-$tool
	t_run 0 "$bin" --help
	t_contains "$t_out" "usage: ballast-$tool" "$tool --help"
	t_contains "$t_out" "exit codes: 0 ok, 1 failed, 2 usage" "$tool --help"
	t_run 0 "$bin" --version
	t_contains "$t_out" "ballast-$tool " "$tool --version"
	t_run 2 "$bin"
	t_contains "$t_err" "usage: ballast-$tool" "$tool without a command"
	t_run 2 "$bin" frobnicate
	t_lines "$t_err" 1 "$tool unknown command"
	t_contains "$t_err" "unknown command 'frobnicate'" "$tool unknown command"
	t_run 2 "$bin" confgi
	t_lines "$t_err" 1 "$tool mistyped command"
	t_contains "$t_err" "did you mean 'config'?" "$tool mistyped command"
	t_run 0 "$bin" config --help
	t_run 2 "$bin" --config
done

# Every command of every binary has --help.
for tool in backup migrate deploy; do
	bin=$B/ballast-$tool
	cmds=$("$bin" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}')
	[ -n "$cmds" ] || t_fail "$tool lists no commands"
	for c in $cmds; do
		t_run 0 "$bin" "$c" --help
		t_contains "$t_out" "usage: ballast-$tool $c" "$tool $c --help"
		t_lines "$t_err" 0 "$tool $c --help: nothing on stderr"
	done
done

# A command's --help lists its options from the command's own table, with
# what each does; `help CMD` is the same; --help never runs the command
# (here prune, with a configuration that does not exist).
t_run 0 "$B/ballast-backup" --config "$tmp/none.json" prune --help
t_contains "$t_out" "options:" "prune --help"
t_contains "$t_out" "--dry-run  " "prune --help lists --dry-run"
t_contains "$t_out" "change nothing" "prune --help says what --dry-run does"
t_run 0 "$B/ballast-deploy" help deploy
t_contains "$t_out" "-w, --lock-wait SECONDS" "help deploy lists -w"
t_run 0 "$B/ballast-migrate" up --help
t_contains "$t_out" "--allow-out-of-order" "migrate up --help"

# Option errors: one line naming the option as typed, with a did-you-mean,
# and the command's --help hint.
t_run 2 "$B/ballast-backup" prune --dryrun
t_lines "$t_err" 1 "prune --dryrun"
t_contains "$t_err" "unknown option --dryrun; did you mean --dry-run? (see 'ballast-backup prune --help')" "prune --dryrun"
t_run 2 "$B/ballast-deploy" history qa -n
t_contains "$t_err" "-n needs a count" "history -n without a value"
# a command's option typed before the command: where it goes
t_run 2 "$B/ballast-backup" --db app restore latest
t_lines "$t_err" 1 "option before the command"
t_contains "$t_err" "option --db goes after the command: 'ballast-backup restore --db ...'" "option before the command"
# restore --pitr abbreviated as getopt would take it still picks the PITR
# command line; "--" ends the search
t_run 2 "$B/ballast-backup" restore --pit
t_contains "$t_err" "--pitr needs exactly one of" "restore --pit is --pitr"
t_run 2 "$B/ballast-backup" restore latest -- --pitr
t_contains "$t_err" "expected one backup ID" "--pitr after -- is an argument"
t_run 2 "$B/ballast-migrate" --database "x" status
t_contains "$t_err" 'bad connection string: missing "=" after "x" in connection info string' "migrate takes --database before the command"
t_lines "$t_err" 1 "libpq's message on one line"
t_run 2 "$B/ballast-migrate" status --exit-code=1
t_contains "$t_err" "--exit-code takes no value" "status --exit-code=1"

bin=$B/ballast-backup
# Missing config file.
t_run 2 "$bin" --config "$tmp/none.json" config
t_lines "$t_err" 1 "missing config"
t_contains "$t_err" "$tmp/none.json" "missing config"
# No config anywhere.
(cd "$tmp" && BALLAST_CONFIG= t_run 2 "$bin" config && t_contains "$t_err" "no configuration" "no config")
# Malformed JSON: file, line and column.
printf '{\n  "project": "x",\n  "repository": { "type": "local", }\n}\n' > "$tmp/bad.json"
t_run 2 "$bin" --config "$tmp/bad.json" config
t_lines "$t_err" 1 "malformed json"
t_contains "$t_err" "$tmp/bad.json:3:" "malformed json"
# Unknown key with a hint.
echo '{"project": "x", "retention": {"keep_dialy": 7}}' > "$tmp/typo.json"
t_run 2 "$bin" --config "$tmp/typo.json" config
t_contains "$t_err" 'retention.keep_dialy: unknown key (did you mean "keep_daily"?)' "unknown key"
# Wrong type.
echo '{"project": "x", "compression": {"level": "max"}}' > "$tmp/type.json"
t_run 2 "$bin" --config "$tmp/type.json" config
t_contains "$t_err" "compression.level: expected an integer, got a string" "wrong type"
# Undefined variable.
echo '{"project": "x", "repository": {"type": "local", "path": "${BALLAST_T_UNSET}"}}' > "$tmp/var.json"
t_run 2 env -u BALLAST_T_UNSET "$bin" --config "$tmp/var.json" config
t_contains "$t_err" 'repository.path: undefined variable ${BALLAST_T_UNSET}' "undefined var"
# A valid config prints, with secrets redacted, also in --json.
echo '{"project": "x", "databases": [{"name": "app", "conninfo": "postgresql://u:pw-in-url-77@h/db"}]}' > "$tmp/ok.json"
t_run 0 "$bin" --config "$tmp/ok.json" config
t_contains "$t_out" "valid" "config ok"
t_not_contains "$t_out" "pw-in-url-77" "config redaction"
t_run 0 "$bin" config --json --config "$tmp/ok.json"
t_not_contains "$t_out" "pw-in-url-77" "config --json redaction"
t_contains "$t_out" '"event":"result"' "config --json"
BALLAST_CONFIG=$tmp/ok.json t_run 0 "$bin" config
# A *_env key naming an unset variable: config says so (exit 2), naming it.
echo '{"project": "x", "databases": [{"name": "app", "conninfo": "host=h", "password_env": "BALLAST_T_NOPW"}]}' > "$tmp/env.json"
t_run 2 env -u BALLAST_T_NOPW "$bin" --config "$tmp/env.json" config
t_contains "$t_err" "databases[0].password_env: variable BALLAST_T_NOPW is not set" "config: unset password_env"
t_run 2 env -u BALLAST_T_NOPW "$bin" --config "$tmp/env.json" run
t_contains "$t_err" "variable BALLAST_T_NOPW is not set" "run: unset password_env before anything runs"
BALLAST_T_NOPW=x t_run 0 "$bin" --config "$tmp/env.json" config
# Two databases with one name: refused, naming both.
echo '{"project": "x", "databases": [{"name": "app", "conninfo": "host=h"}, {"name": "app", "conninfo": "host=i"}]}' > "$tmp/dup.json"
t_run 2 "$bin" --config "$tmp/dup.json" config
t_contains "$t_err" 'databases[1].name: "app" is also databases[0].name' "duplicate database names"
t_done

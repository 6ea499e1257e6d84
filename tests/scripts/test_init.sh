#!/usr/bin/env bash
# The repository marker: only `ballast-backup init` makes a repository;
# every other command refuses a location without the marker and creates
# nothing there (a backup disk that is not mounted must not be filled).
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bb=$B/ballast-backup
mkdir -p "$tmp/vol" "$tmp/mnt"
echo hello > "$tmp/vol/a.txt"
cfg() { # REPO_PATH
	cat >"$tmp/ballast.json" <<JSON
{ "project": "mk", "state_dir": "$tmp/state",
  "repository": { "type": "local", "path": "$1" },
  "databases": [], "retention": { "keep_last": 3 },
  "volumes": [ { "name": "files", "path": "$tmp/vol" } ] }
JSON
}

# a path that does not exist (a typo): refused, nothing created
cfg "$tmp/nope/repo"
t_run 2 "$bb" --config "$tmp/ballast.json" run
t_contains "$t_err" "no ballast repository for mk at $tmp/nope/repo" "run names the repository"
t_contains "$t_err" "run 'ballast-backup init'" "run names the remedy"
t_lines "$t_err" 1 "one line"
[ ! -e "$tmp/nope" ] && t_ok || t_fail "run created $tmp/nope"
for c in list "verify --all" "restore latest --to $tmp/out" prune drill; do
	# shellcheck disable=SC2086
	t_run 2 "$bb" --config "$tmp/ballast.json" $c
	t_contains "$t_err" "no ballast repository" "$c refuses"
done
[ ! -e "$tmp/nope" ] && t_ok || t_fail "a command created $tmp/nope"

# an empty mount point (the disk is not mounted): refused, left empty
cfg "$tmp/mnt"
t_run 2 "$bb" --config "$tmp/ballast.json" run
[ -z "$(ls -A "$tmp/mnt")" ] && t_ok || t_fail "run wrote into the unmounted mount point"
t_run 1 "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "FAILED repository" "check reports the missing marker"

# init makes it one; run, list work; init again keeps the id
cfg "$tmp/nope/repo"
t_run 0 "$bb" --config "$tmp/ballast.json" init
t_contains "$t_out" "initialised a ballast repository for mk at $tmp/nope/repo" "init"
id=$(jq -r .id "$tmp/nope/repo/mk/repository.json")
[ ${#id} = 32 ] && t_ok || t_fail "repository id '$id'"
[ "$(stat -c %a "$tmp/nope/repo/mk/repository.json")" = 600 ] && t_ok || t_fail "marker mode"
t_run 0 "$bb" --config "$tmp/ballast.json" run
t_run 0 "$bb" --config "$tmp/ballast.json" init --json
t_contains "$t_out" "\"id\":\"$id\"" "init again: same id"
t_contains "$t_out" '"existed":true' "init again: existed"
t_run 0 "$bb" --config "$tmp/ballast.json" check
t_contains "$t_out" "id $id" "check shows the id"

# a repository from before markers: refused with its backup count, adopted by init
rm "$tmp/nope/repo/mk/repository.json"
t_run 2 "$bb" --config "$tmp/ballast.json" list
t_contains "$t_err" "holds 1 backup of mk but no repository marker" "old repository explained"
t_run 0 "$bb" --config "$tmp/ballast.json" init
t_contains "$t_out" "adopted 1 existing backup" "init adopts"
t_run 0 "$bb" --config "$tmp/ballast.json" list
t_contains "$t_out" "good" "the adopted backup is listed"
t_done

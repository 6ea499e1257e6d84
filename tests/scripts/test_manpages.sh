#!/usr/bin/env bash
# The man pages and the shell completions come from the binaries' own
# --help: every command and every option --help lists is in the page, the
# page renders without a groff warning, and completion offers commands and
# each command's options (bash directly; zsh registers the same function
# through bashcompinit).
# services:
. "$(dirname "$0")/lib.sh"

for tool in backup migrate deploy; do
	bin=$B/ballast-$tool page=$B/man/ballast-$tool.1
	t_check "ballast-$tool.1 was generated" test -s "$page"
	[ -s "$page" ] || continue
	warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	t_check "ballast-$tool.1 renders without warnings" eq "$warn" ""
	text=$(groff -man -Tascii -P-cbu "$page" 2>/dev/null)
	for c in $("$bin" --help | awk '/^commands:$/ { f = 1; next } /^$/ { f = 0 } f { print $1 }'); do
		t_check "ballast-$tool.1 has a section for $c" grep -q "^\.SS $c\$" "$page"
		[ "$c" = config ] && continue
		# every option of the command's table, with its help line
		while IFS= read -r line; do
			opt=${line%%  *}
			t_check "ballast-$tool.1 lists $c ${opt# }" contains "$text" "${opt# }"
		done < <("$bin" "$c" --help | awk '/^options:$/ { f = 1; next } /^$/ { f = 0 } f && /^  -/ { sub(/^  /, ""); print }')
	done
done

# bash: COMP_WORDS as bash fills them, then the function complete -F names
comp() { # WORDS...: what bash would offer for the last word
	(
		PATH=$B:$PATH
		. "$S/completion/ballast.bash"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_ballast
		printf '%s\n' "${COMPREPLY[@]}"
	)
}
t_check "bash completes a command" eq "$(comp ballast-backup pru)" "prune"
t_check "bash completes restore-point" eq "$(comp ballast-backup restore-)" "restore-point"
t_check "bash completes a command's option" eq "$(comp ballast-backup prune --dr)" "--dry-run"
t_check "bash completes a short-and-long option" contains "$(comp ballast-deploy deploy qa --lock)" "--lock-wait"
t_check "bash completes a global option" eq "$(comp ballast-migrate --conf)" "--config"
t_check "bash offers migrate's commands" contains "$(comp ballast-migrate '')" "baseline"
t_check "bash offers only the command's options" lacks "$(comp ballast-backup list --)" "--dry-run"

if command -v zsh >/dev/null; then
	# the installed file sources the installed bash completion: point it
	# at the source tree's
	tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
	sed "s|^source .*|source $S/completion/ballast.bash|" "$B/completion/_ballast" >"$tmp"
	zout=$(PATH=$B:$PATH zsh -f -c '
		autoload -U compinit && compinit -u
		source "$1"
		print -l ${_comps[ballast-backup]} ${_comps[ballast-migrate]} ${_comps[ballast-deploy]}' zsh "$tmp" 2>&1)
	t_check "zsh registers the completion for the three binaries" eq "$zout" "$(printf '_bash_complete -F _ballast\n%.0s' 1 2 3)"
else
	t_fail "zsh is not installed: scripts/deps.sh installs it"
fi
t_done

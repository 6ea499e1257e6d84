# bash completion for ballast-backup, ballast-migrate and ballast-deploy.
# Commands and options are read from the binary's own --help (its command
# and option tables), so completion offers exactly what the binary takes.

# The options a --help text lists: the left column of its "options:" and
# "global options:" sections.
_ballast_options()
{
	awk '/^(options|global options):$/ { f = 1; next }
	     /^$/ { f = 0 }
	     f && /^  -/ {
		     left = $0; sub(/^  /, "", left); sub(/   .*/, "", left)
		     n = split(left, w, /[ ,]+/)
		     for (i = 1; i <= n; i++) if (w[i] ~ /^-/) print w[i]
	     }'
}

_ballast()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local bin=${COMP_WORDS[0]} cmd= i w
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--config) ((i++)) ;;
		-*) ;;
		*) cmd=$w; break ;;
		esac
	done
	case $prev in
	--config|--to|--dir|--data-dir|--scratch-dir|--migrations|--file|-f)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		local opts
		if [[ -n $cmd ]]; then
			opts=$("$bin" "$cmd" --help 2>/dev/null | _ballast_options)
		fi
		opts+=" $("$bin" --help 2>/dev/null | _ballast_options)"
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$("$bin" --help 2>/dev/null |
			awk '/^commands:$/ { f = 1; next } /^$/ { f = 0 } f { print $1 }') help" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _ballast ballast-backup ballast-migrate ballast-deploy

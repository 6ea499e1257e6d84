#!/bin/sh
# gen-man.sh BINARY OUT: the man page of one ballast binary, written from
# the binary's own --help and every command's --help. Those come from the
# command table and each command's option table (lib/config/cli,
# parseopt), so the page cannot say something the binary does not do.
# CMake runs this after linking (build/man/<tool>.1); `make install` puts
# the pages in share/man/man1.
set -eu
bin=$1
out=$2
tool=$(basename "$bin")
version=$("$bin" --version | awk '{ print $2 }')
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT

# troff-safe text: backslashes first, then hyphens (so options copy and
# search as typed), then a leading dot or quote that would read as a request
esc() {
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"
}

# A --help text in man form: the "commands:", "options:" and "global
# options:" lists become tagged paragraphs (two spaces, the name, two or
# more spaces, its help; deeper-indented lines continue the help), other
# text stays as lines.
body() {
	awk '
	function flush() { if (tag != "") { print ".TP"; print tag; print help } tag = ""; help = "" }
	/^(commands|options|global options):$/ { flush(); inopts = 1; print ".PP"; print "\\fB" $0 "\\fR"; next }
	/^$/ { flush(); inopts = 0; print ".PP"; next }
	inopts && /^  [^ ]/ {
		flush()
		line = substr($0, 3)
		n = match(line, /   *[^ ]/)
		if (n) { tag = substr(line, 1, n - 1); help = substr(line, n); sub(/^ +/, "", help) }
		else { tag = line; help = "" }
		tag = "\\fB" tag "\\fR"
		next
	}
	inopts && /^      / { l = $0; sub(/^ +/, "", l); help = (help == "" ? l : help "\n" l); next }
	{ flush(); print }
	END { flush() }'
}

{
	echo ".TH $(echo "$tool" | tr a-z A-Z) 1 \"\" \"ballast $version\" \"ballast manual\""
	echo ".SH NAME"
	summary=$("$bin" --help | sed -n 3p)
	printf '%s \\- %s\n' "$(echo "$tool" | esc)" "$(echo "$summary" | esc)"
	echo ".SH SYNOPSIS"
	echo ".B $tool"
	printf '%s\n' '[\-\-config FILE] [\-\-json] [\-v|\-q] \fIcommand\fR [\fIoptions\fR]'
	echo ".SH DESCRIPTION"
	# the top help from its description on: about text, commands, global
	# options, exit codes
	"$bin" --help | sed '1,2d' | esc | body
	echo ".SH COMMANDS"
	for c in $("$bin" --help | awk '/^commands:/ { f = 1; next } /^$/ { f = 0 } f { print $1 }'); do
		echo ".SS $c"
		if [ "$c" = config ]; then
			"$bin" config --help | esc | body
			continue
		fi
		# without the last line, which every command repeats
		"$bin" "$c" --help | grep -v '^global options --config FILE' | esc | body
	done
	echo ".SH ENVIRONMENT"
	echo ".TP"
	echo ".B BALLAST_CONFIG"
	printf '%s\n' 'the configuration file when \-\-config is not given'
	echo ".TP"
	echo ".B BALLAST_ENV_FILE"
	echo "KEY=value lines loaded into the environment first (secrets for cron and systemd)"
	echo ".SH SEE ALSO"
	for t in ballast-backup ballast-migrate ballast-deploy; do
		[ "$t" = "$tool" ] || printf '.BR %s (1)\n' "$(echo "$t" | esc)"
	done
	echo ".PP"
	echo "The documentation in docs/ of the source tree (share/doc/ballast when installed)."
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT

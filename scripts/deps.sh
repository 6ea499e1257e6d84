#!/usr/bin/env bash
# Install what building and testing ballast needs, if it is missing.
# Debian/Ubuntu packages via apt-get (as root, or with sudo); npm packages
# for the test services into tests/services/node_modules (git-ignored).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential cmake pkg-config git
      libpq-dev libcurl4-openssl-dev libzstd-dev libarchive-dev libjansson-dev
      libssh2-1-dev libssl-dev libyaml-dev check libsubunit-dev
      postgresql zstd openssh-server openssh-client
      python3 curl acl attr openssl
      clang libclang-rt-14-dev
      python3-alembic python3-psycopg2
      docker-compose time
      jq age groff-base zsh
      docker.io docker-registry busybox-static)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from Debian (nodejs + npm) or from NodeSource (one
# nodejs package that bundles npm and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# Installing a server package (docker.io, postgresql, openssh-server,
	# docker-registry) must not start the host's own daemon: the suites
	# start private ones. Debian's policy-rc.d hook says "do not start
	# services" while we install, unless the host already has one.
	rcd=/usr/sbin/policy-rc.d; made_rcd=0
	if [ ! -e "$rcd" ]; then
		printf '#!/bin/sh\n# ballast deps.sh: no service starts during this install\nexit 101\n' |
			$sudo tee "$rcd" >/dev/null && $sudo chmod 755 "$rcd" && made_rcd=1
	fi
	st=0
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || st=$?
	[ "$made_rcd" = 1 ] && $sudo rm -f "$rcd"
	[ "$st" = 0 ] || exit "$st"
fi

# The distribution's own PostgreSQL cluster, if any, is left alone: the
# tests and the demo start throwaway clusters of their own (initdb into a
# temporary directory, on a free port), so nothing here stops, starts or
# changes a server they did not create.

# Compose v2: the `docker-compose` plugin binary from the next Debian
# release's docker-compose package (it needs only libc6 >= 2.34). That
# release is named in a temporary sources list with its own apt state, used
# for this one download and removed right after, so the host's apt
# configuration and everything else installed stay exactly as they were.
# The v1 `docker-compose` above stays the system's; the plugin lives in
# tests/services/tools (git-ignored) and the suites point DOCKER_CONFIG's
# cli-plugins at it.
plugin=$top/tests/services/tools/cli-plugins/docker-compose
if [ ! -x "$plugin" ]; then
	echo "deps: downloading the compose v2 plugin (Debian trixie's docker-compose)"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ballast-deps-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/etc/sources.list.d" "$tmp/etc/preferences.d" "$tmp/pkg"
	echo "deb http://deb.debian.org/debian trixie main" > "$tmp/etc/sources.list"
	aptopts=(-o "Dir::Etc::SourceList=$tmp/etc/sources.list"
	         -o "Dir::Etc::SourceParts=$tmp/etc/sources.list.d"
	         -o "Dir::Etc::Preferences=$tmp/etc/preferences"
	         -o "Dir::Etc::PreferencesParts=$tmp/etc/preferences.d"
	         -o "Dir::State::Lists=$tmp/lists"
	         -o "Dir::State::status=/var/lib/dpkg/status"
	         -o "Dir::Cache=$tmp/cache"
	         -o "APT::Sandbox::User=root"
	         -o "Debug::NoLocking=1")
	apt-get "${aptopts[@]}" update -qq >/dev/null
	(cd "$tmp/pkg" && apt-get "${aptopts[@]}" download docker-compose >/dev/null)
	dpkg-deb -x "$tmp"/pkg/docker-compose_*.deb "$tmp/x"
	mkdir -p "$(dirname "$plugin")"
	install -m 755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
	rm -rf "$tmp"
	trap - EXIT
	"$plugin" version
fi

# Also when package.json gained a package since the last install (dclint
# after s3rver): each dependency's directory must exist.
npm_missing=0
if [ -f "$top/tests/services/package.json" ]; then
	for p in $(cd "$top/tests/services" &&
		   node -e 'console.log(Object.keys(require("./package.json").dependencies).join(" "))'); do
		[ -f "$top/tests/services/node_modules/$p/package.json" ] || npm_missing=1
	done
fi
if [ "$npm_missing" = 1 ]; then
	echo "deps: npm install in tests/services"
	(cd "$top/tests/services" && npm install --no-audit --no-fund --silent >/dev/null)
fi

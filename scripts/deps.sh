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
      jq age)
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
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The distribution's own PostgreSQL cluster, if any, is left alone: the
# tests and the demo start throwaway clusters of their own (initdb into a
# temporary directory, on a free port), so nothing here stops, starts or
# changes a server they did not create.

if [ -f "$top/tests/services/package.json" ] && [ ! -d "$top/tests/services/node_modules" ]; then
	echo "deps: npm install in tests/services"
	(cd "$top/tests/services" && npm install --no-audit --no-fund --silent >/dev/null)
fi

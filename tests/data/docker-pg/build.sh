#!/usr/bin/env bash
# build.sh BASE IMAGE: build the PostgreSQL 15 test image IMAGE on the
# busybox image BASE from this machine's Debian packages (no internet), with
# the docker client on PATH and DOCKER_HOST set by the caller; push it.
#
# The image holds only what a server, initdb and the client tools need: the
# programs below, the server's modules (no JIT), the shared data, the
# shared libraries ldd names for all of them, UTC zoneinfo. vfs storage
# copies every layer, so it is one layer on top of the base (about 60 MB).
set -euo pipefail
base=${1:?usage: build.sh BASE IMAGE}
image=${2:?usage: build.sh BASE IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
pg=/usr/lib/postgresql/15
[ -x "$pg/bin/postgres" ] || { echo "build.sh: $pg/bin/postgres not found (scripts/deps.sh installs postgresql-15)" >&2; exit 1; }
ctx=$(mktemp -d "${TMPDIR:-/tmp}/ballast-pgimg-XXXXXX")
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root$pg/bin" "$root$pg/lib" "$root/usr/share/postgresql" "$root/etc" \
	"$root/usr/share/zoneinfo/Etc" "$ctx/owned/lib/postgresql/data" "$ctx/owned/run/postgresql"
chmod 700 "$ctx/owned/lib/postgresql/data"
mkdir -m 1777 "$root/tmp"
for p in postgres initdb pg_ctl psql pg_dump pg_restore pg_dumpall pg_isready; do
	cp "$pg/bin/$p" "$root$pg/bin/"
done
for so in "$pg"/lib/*.so; do
	case $so in */llvmjit.so) continue ;; esac
	cp "$so" "$root$pg/lib/"
done
cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
rm -rf "$root/usr/share/postgresql/15/man"
cp -L /usr/share/zoneinfo/UTC /usr/share/zoneinfo/GMT "$root/usr/share/zoneinfo/"
cp -L /usr/share/zoneinfo/Etc/UTC "$root/usr/share/zoneinfo/Etc/"
# every library any of those ELF files loads, at the path ldd found it
for f in "$root$pg"/bin/* "$root$pg"/lib/*.so; do
	ldd "$f" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'
done | sort -u | while read -r lib; do
	cp -L --parents "$lib" "$root"
done
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' > "$root/etc/group"
cp "$here/entrypoint.sh" "$root/entrypoint.sh"
cp "$here/Dockerfile" "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" -t "$image" "$ctx" >/dev/null
docker push -q "$image" >/dev/null

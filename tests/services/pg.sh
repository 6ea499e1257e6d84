#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests.
#
#   pg.sh start DIR   initdb into DIR/data, unix socket in DIR, listen on
#                     127.0.0.1 at a free port, wait until it accepts
#                     connections, write DIR/conninfo, DIR/port, DIR/host,
#                     and print the conninfo.
#   pg.sh stop DIR    stop the cluster and remove DIR.
#
# With PG_TEMPLATE_DIR set (the test suite sets it to one per build
# directory), initdb runs once, into that directory (under a lock, renamed
# into place when whole), and every cluster is a copy of it: a tenth of an
# initdb's cost, and two dozen suites each start a cluster in both passes
# of scripts/test.sh. Without it, each start runs initdb. initdb runs with --no-sync: the clusters run with
# fsync=off and are thrown away.
# Run as root, the cluster belongs to the `postgres` user (initdb refuses
# root); otherwise to the caller. The superuser is "postgres" with a
# password of its own per cluster, in DIR/password (password auth on TCP,
# trust on the socket), so tests can exercise both. Per cluster, not one
# for all: the secrets suite looks for its password in every process's
# argv, and another suite running beside it passes its own password in argv
# on purpose (to prove ballast keeps it out of its children's). PG_BINDIR overrides where initdb/pg_ctl are found.
# PG_EXTRA_OPTS (default empty) is appended to the server's options, e.g.
# "-c archive_mode=on" for a suite that archives WAL (tests/integration/test_pitr.c).
# PG_INITDB_OPTS (default empty) is appended to initdb's, e.g. "--wal-segsize=1"
# for 1 MiB WAL segments; each distinct value has its own template.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || svc_die "usage: pg.sh start|stop DIR"

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
	for v in 17 16 15; do
		[ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { bindir=/usr/lib/postgresql/$v/bin; break; }
	done
fi
[ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb || echo /nonexistent/initdb)")
[ -x "$bindir/initdb" ] || svc_die "initdb not found (install postgresql or set PG_BINDIR)"

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# initdb_into DATA: a cluster owned by as_owner's user, superuser postgres
# without a password (start sets the cluster's own), no fsync.
initdb_into() {
	as_owner "$bindir/initdb" -D "$1" -U postgres --no-sync --auth-local=trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 ${PG_INITDB_OPTS:-} \
		>"$1.initdb.log" 2>&1 || { cat "$1.initdb.log" >&2; svc_die "initdb failed in $1"; }
}

case "$cmd" in
start)
	rm -rf "$dir"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || svc_die "user postgres missing (install postgresql)"
		chown postgres: "$dir"
		# The socket dir must be reachable by postgres through every parent.
		p=$dir
		while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
	fi
	pw="ballast-test-pw-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	tpl=${PG_TEMPLATE_DIR:+$PG_TEMPLATE_DIR/$(basename "$(dirname "$bindir")")}
	[ -n "$tpl" ] && [ -n "${PG_INITDB_OPTS:-}" ] && tpl=$tpl-$(printf '%s' "$PG_INITDB_OPTS" | tr -c 'A-Za-z0-9=' '_')
	if [ -n "$tpl" ] && [ ! -d "$tpl" ]; then
		mkdir -p "$PG_TEMPLATE_DIR"
		(
			flock 9
			if [ ! -d "$tpl" ]; then
				rm -rf "$tpl.tmp"
				mkdir -p "$tpl.tmp"
				[ "$(id -u)" = 0 ] && chown postgres: "$tpl.tmp"
				initdb_into "$tpl.tmp/data"
				mv "$tpl.tmp" "$tpl"
			fi
		) 9>"$PG_TEMPLATE_DIR/lock" || exit 1
	fi
	if [ -n "$tpl" ]; then
		cp -a "$tpl/data" "$dir/data" || svc_die "copying the cluster template $tpl failed"
	else
		initdb_into "$dir/data"
	fi
	started=0
	for attempt in 1 2 3 4 5; do
		port=$(svc_free_port)
		if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c max_connections=100 -c shared_buffers=64MB ${PG_EXTRA_OPTS:-}" \
			start >/dev/null 2>&1; then
			started=1; break
		fi
	done
	[ "$started" = 1 ] || { tail -5 "$dir/server.log" >&2; svc_die "postgres did not start in $dir"; }
	for _ in $(seq 1 100); do
		"$bindir/pg_isready" -q -h "$dir" -p "$port" && break
		sleep 0.1
	done
	"$bindir/pg_isready" -q -h "$dir" -p "$port" || svc_die "postgres in $dir does not accept connections"
	# The cluster's own password, through stdin: never in an argv.
	printf "ALTER ROLE postgres PASSWORD '%s';\n" "$pw" |
		"$bindir/psql" -q -X -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >/dev/null ||
		svc_die "setting the password of the cluster in $dir failed"
	echo "$port" > "$dir/port"
	echo "$dir" > "$dir/host"
	echo "$bindir" > "$dir/bindir"
	echo "host=$dir port=$port user=postgres dbname=postgres" > "$dir/conninfo"
	echo "host=127.0.0.1 port=$port user=postgres dbname=postgres" > "$dir/conninfo_tcp"
	echo "$pw" > "$dir/password"
	cat "$dir/conninfo"
	;;
stop)
	[ -d "$dir" ] || exit 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	svc_die "usage: pg.sh start|stop DIR"
	;;
esac

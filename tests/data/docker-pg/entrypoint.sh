#!/bin/sh
# First start on an empty data directory: initdb (superuser postgres, its
# password from POSTGRES_PASSWORD; local socket trusted, TCP scram from
# anywhere), and POSTGRES_DB when it is not postgres. Then the server,
# listening on every address, as PID 1 (SIGINT from `docker stop` is a fast
# shutdown).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "entrypoint: POSTGRES_PASSWORD is not set" >&2; exit 1; }
	chmod 700 "$PGDATA"
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
	initdb -D "$PGDATA" -U postgres --pwfile="$pw" --auth-local=trust \
		--auth-host=scram-sha-256 --locale=C --encoding=UTF8 --no-sync >/dev/null
	rm -f "$pw"
	echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
	if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
		echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
	fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c jit=off

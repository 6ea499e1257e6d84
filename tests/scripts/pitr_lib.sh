# Shared by the point-in-time shell suites (sourced, not a suite itself):
# the WAL archive of a local repository as segment names, and waiting for
# a segment in it. Needs PITR_WAL (the database's folder,
# <repo>/<project>/wal/<db>) and q (one SQL statement through psql).
archived() { find "$PITR_WAL" -type f -name '0*' ! -name '*.tmp-*' 2>/dev/null | sed 's|.*/||' | cut -c1-24 | sort -u; }
wait_archived() { # SEGMENT: up to 60 s for the archive to hold it
	for _ in $(seq 1 600); do archived | grep -qx "$1" && return 0; sleep 0.1; done
	echo "    $1 not archived; have: $(archived | tr '\n' ' ')" >&2
	return 1
}
switch() { q "SELECT pg_walfile_name(pg_switch_wal())"; }
# pitr_config FILE PROJECT: a configuration with a local repository in
# $WORK/repo, state in $WORK/state and one physical database "app" on the
# suite's cluster ($PGDIR, $PGPORT, $BINDIR)
pitr_config() {
	cat > "$1" <<JSON
{ "project": "$2", "state_dir": "$WORK/state",
  "repository": { "type": "local", "path": "$WORK/repo" },
  "databases": [ { "name": "app", "mode": "physical", "pg_bindir": "$BINDIR",
                   "conninfo": "host=$PGDIR port=$PGPORT user=postgres dbname=postgres" } ] }
JSON
}

/*
 * walstream: continuous WAL archiving over the replication protocol, for a
 * server that cannot run ballast-backup in its archive_command (the stock
 * postgres image): `ballast-backup wal-stream`, a long-running process
 * beside the server.
 *
 * Contract: walstream_run() streams the WAL of one physical database
 * ("databases[].mode": "physical") through a physical replication slot
 * into a local spool directory with pg_receivewal (of the server's major
 * version or newer; `wal_stream.receivewal_command`), and commits every
 * finished segment and timeline history file from the spool into the
 * repository with walarchive_push() — the same object whoever archives it,
 * so wal-fetch, verify --wal, prune and restore --pitr see no difference.
 * A file leaves the spool only after its commit; pg_receivewal reports a
 * position as flushed (and the slot lets the server recycle it) only once
 * it is fsynced in the spool, so the slot, the spool and the repository
 * together never lose a segment: kill the streamer at any moment and the
 * next one continues where the slot and the spool say.
 *
 * - The slot (default "ballast_<db>") is created when missing. One
 *   streamer per spool: a second one is BL_ELOCKED.
 * - pg_receivewal runs with --no-loop; when it exits (connection lost,
 *   server restarted) the streamer commits what is finished, waits 1 s,
 *   then 2, 4, ... up to 60 s between attempts (reset after a minute of
 *   streaming) and starts it again, logging each exit.
 * - A commit that fails (repository unreachable) is a warning; the file
 *   stays in the spool and is tried again every second.
 * - Every 30 s the slot's lag (the server's WAL position minus the slot's
 *   restart_lsn: what the server keeps on disk for the slot) goes to the
 *   metrics textfile as ballast_wal_stream_slot_lag_bytes, with
 *   ballast_wal_stream_last_commit_timestamp_seconds; a lag over
 *   wal_stream.max_slot_lag (default 1G) is a warning each time.
 * - Every wal_stream.partial_interval the spool's ".partial" (when it
 *   changed) is copied in bounded blocks into an unnamed spool file and
 *   committed from there as its segment's partial copy; a segment's commit
 *   drops its partial copies, and every start drops those of every
 *   segment archived whole (a killed streamer's left-overs).
 * - The stall check (wal_stream.stall_timeout): pg_receivewal is restarted
 *   when the server flushed WAL that does not arrive, or when the server
 *   does not answer the probe (a network failure or SQLSTATE 08xxx, within
 *   20 s); an error the server answers with is a warning, once per message.
 * - SIGTERM or SIGINT: pg_receivewal is stopped (it flushes), what is
 *   finished is committed, and the call returns 0.
 * - o->once: commit what the spool holds, report the lag, return (no
 *   streaming): for tests and for draining a spool by hand.
 */
#ifndef BALLAST_WALSTREAM_H
#define BALLAST_WALSTREAM_H

#include "config.h"
#include "errbuf.h"

struct walstream_opts {
	const char *db;       /* the physical database; NULL: the only one */
	int synchronous;      /* pg_receivewal --synchronous: flush each write */
	int once;
};

int walstream_run(const struct config *cfg, const struct walstream_opts *o, struct errbuf *e);

/* For check: the slot's name (into slot), its lag in bytes and the
 * configured max_slot_lag, through one replication connection. A slot
 * that does not exist (wal-stream never ran) is BL_EFAIL saying so. */
int walstream_lag(const struct config *cfg, const char *db, struct strbuf *slot, long long *lag,
		  long long *max, struct errbuf *e);

#endif

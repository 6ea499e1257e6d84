#include "walstream.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backupset.h"
#include "basebackup.h"
#include "dbdump.h"
#include "fsutil.h"
#include "interrupt.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "proc.h"
#include "timeutil.h"
#include "walarchive.h"
#include "xalloc.h"
#include "zstream.h"

#define TICK_MS 1000
#define LAG_EVERY_MS (30 * 1000)
#define BACKOFF_MAX_MS (60 * 1000)
/* a pg_receivewal that streamed this long had a working connection: the
 * next failure starts the backoff from its beginning */
#define BACKOFF_RESET_MS (60 * 1000)
#define PARTIAL_DEFAULT_MS (10 * 1000)
/* the partial segment is copied this much at a time */
#define SNAPSHOT_CHUNK (128 * 1024)
#define STALL_DEFAULT_MS (30 * 1000)
/* a slot-lag probe's limit, all in: connect_timeout (15 s) and two short
 * queries */
#define PROBE_MS (20 * 1000)
/* after a stall is seen, how long the spool gets to show the WAL the
 * server just flushed (streaming delivers it in milliseconds) */
#define STALL_GRACE_MS 2000
/* a pg_receivewal that ignores SIGTERM this long gets SIGKILL */
#define STOP_WAIT_MS 5000
/* libpq settings pg_receivewal and the probes get unless the conninfo
 * names them: a peer that vanishes (a cut cable, a rebooted NAT) is an
 * error within about 30 s instead of TCP's many minutes; a silent proxy
 * that keeps TCP alive is the stall check's (stall_timeout) */
static const char *const conn_defaults[][2] = {
	{ "connect_timeout", "15" }, { "keepalives", "1" }, { "keepalives_idle", "10" },
	{ "keepalives_interval", "5" }, { "keepalives_count", "3" },
	{ "tcp_user_timeout", "30000" },
};

struct stream {
	const struct config *cfg;
	const struct walstream_opts *o;
	const char *db;
	json_t *spec;
	struct repo *r;
	const char *project;
	struct strbuf spool, slot, ci, envpw, metrics;
	struct strvec cmd;        /* pg_receivewal argv prefix */
	long long max_lag;
	int level;
	int lockfd;
	long long committed;      /* files committed by this process */
	long long last_commit_s;  /* unix time of the newest commit */
	long long partial_ms;     /* wal_stream.partial_interval; 0: off */
	long long stall_ms;       /* wal_stream.stall_timeout */
	long long last_partial;   /* monotonic ms of the last partial upload try */
	/* the partial segment last committed (and its file's size and mtime
	 * then): unchanged, it is not sent again; its segment committed, its
	 * copy is deleted */
	struct strbuf up_name;
	long long up_size, up_mtime_ns;
	/* the stall check: the spool's state when it last changed, and the
	 * server's WAL position seen since (have_ref) */
	struct strbuf spool_sig;
	long long spool_changed;
	int have_ref;
	uint64_t ref_pos;
	/* the last probe error that was the server's answer (warned once) */
	struct strbuf probe_err;
};

/* ballast_<db>: slot names are lower-case letters, digits and '_' */
static void default_slot(const char *db, struct strbuf *out)
{
	strbuf_addstr(out, "ballast_");
	for (const char *p = db; *p && out->len < 63; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		strbuf_addch(out, (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '_');
	}
}

static int slot_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n > 0 && n < 64;
}

static int setup(struct stream *s, struct errbuf *e)
{
	json_t *ws, *v;
	struct strbuf pw = STRBUF_INIT, state = STRBUF_INIT;
	const char *bindir;
	int rc;

	rc = walarchive_db(s->cfg, s->o->db, &s->spec, e);
	if (rc)
		return rc;
	s->db = json_string_value(json_object_get(s->spec, "name"));
	ws = json_object_get(s->spec, "wal_stream");
	if ((v = json_object_get(ws, "slot")))
		strbuf_addstr(&s->slot, json_string_value(v));
	else
		default_slot(s->db, &s->slot);
	if (!slot_valid(s->slot.buf))
		return errbuf_set(e, BL_EUSAGE, "%s: databases %s: wal_stream.slot \"%s\": expected "
				  "1 to 63 lower-case letters, digits or '_'", s->cfg->path, s->db,
				  s->slot.buf);
	s->max_lag = 1LL << 30;
	if ((v = json_object_get(ws, "max_slot_lag")) &&
	    (s->max_lag = config_size_bytes(json_string_value(v))) <= 0)
		return errbuf_set(e, BL_EUSAGE, "%s: databases %s: wal_stream.max_slot_lag: expected "
				  "a size like \"1G\"", s->cfg->path, s->db);
	strbuf_addf(&state, "%s: databases %s: wal_stream", s->cfg->path, s->db);
	if ((rc = config_duration_opt(ws, "partial_interval", PARTIAL_DEFAULT_MS, 0, state.buf,
				      &s->partial_ms, e)) ||
	    (rc = config_duration_opt(ws, "stall_timeout", STALL_DEFAULT_MS, 1000, state.buf,
				      &s->stall_ms, e)))
		goto out;
	strbuf_reset(&state);
	bindir = json_string_value(json_object_get(s->spec, "pg_bindir"));
	if (bindir)
		strbuf_addf(&state, "%s/pg_receivewal", bindir);
	dbdump_push_command(&s->cmd, json_object_get(ws, "receivewal_command"),
			    bindir ? state.buf : "pg_receivewal");
	strbuf_reset(&state);
	if ((v = json_object_get(ws, "spool_dir"))) {
		strbuf_addstr(&s->spool, json_string_value(v));
	} else {
		if ((rc = lock_state_dir(s->cfg, &state, e)))
			goto out;
		strbuf_addf(&s->spool, "%s/wal-spool/%s-%s", state.buf,
			    config_str(s->cfg, "project", "ballast"), s->db);
	}
	strbuf_addstr(&s->metrics, config_str(s->cfg, "metrics.textfile", ""));
	s->level = (int)config_int(s->cfg, "compression.level", 3);
	dbdump_password(s->spec, &pw);
	if (pw.len)
		strbuf_addf(&s->envpw, "PGPASSWORD=%s", pw.buf);
	rc = dbdump_conninfo_nopw(json_string_value(json_object_get(s->spec, "conninfo")), &s->ci,
				  e);
	for (size_t i = 0; !rc && i < sizeof(conn_defaults) / sizeof(*conn_defaults); i++) {
		strbuf_reset(&state);
		strbuf_addf(&state, " %s=", conn_defaults[i][0]);
		/* dbdump_conninfo_nopw writes key='value' pairs, one space apart */
		if (strncmp(s->ci.buf, state.buf + 1, state.len - 1) && !strstr(s->ci.buf, state.buf))
			strbuf_addf(&s->ci, "%s%s='%s'", s->ci.len ? " " : "", conn_defaults[i][0],
				    conn_defaults[i][1]);
	}
out:
	if (pw.alloc)
		memset(pw.buf, 0, pw.alloc);
	strbuf_release(&pw);
	strbuf_release(&state);
	return rc;
}

/* One streamer per spool: pg_receivewal itself would not notice a second
 * one writing the same files. */
static int lock_spool(struct stream *s, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	int rc = 0;

	if (fs_mkdir_p(s->spool.buf, 0700, NULL))
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", s->spool.buf);
	strbuf_addf(&path, "%s/.lock", s->spool.buf);
	s->lockfd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path.buf);
	else if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0)
		rc = errno == EWOULDBLOCK ?
		     errbuf_set(e, BL_ELOCKED, "another wal-stream of database %s holds %s",
				s->db, path.buf) :
		     errbuf_errno(e, BL_EFAIL, errno, "cannot lock %s", path.buf);
	strbuf_release(&path);
	return rc;
}

static const char *const *child_env(struct stream *s, const char *env[2])
{
	env[0] = s->envpw.len ? s->envpw.buf : NULL;
	env[1] = NULL;
	return env;
}

static int create_slot(struct stream *s, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	const char *env[2];
	int rc;

	for (size_t i = 0; i < s->cmd.n; i++)
		strvec_push(&argv, s->cmd.v[i]);
	strvec_push(&argv, "--create-slot");
	strvec_push(&argv, "--if-not-exists");
	strvec_pushf(&argv, "--slot=%s", s->slot.buf);
	strvec_push(&argv, "--no-password");
	strvec_pushf(&argv, "--dbname=%s", s->ci.buf);
	rc = proc_run(strvec_argv(&argv), child_env(s, env), NULL, NULL, 60000, e);
	if (rc)
		errbuf_prefix(e, "database %s: creating replication slot %s: ", s->db, s->slot.buf);
	strvec_clear(&argv);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Commit every finished file of the spool, oldest first (history files
 * sort after their timeline's segments of the same number, which recovery
 * does not mind: it reads history files by name). A partial segment
 * (".partial") is pg_receivewal's, still being written. */
static int commit_finished(struct stream *s, struct errbuf *e)
{
	struct strvec names = STRVEC_INIT;
	struct strbuf path = STRBUF_INIT;
	struct dirent *d;
	DIR *dir = opendir(s->spool.buf);
	int rc = 0, already;

	if (!dir)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", s->spool.buf);
	while ((d = readdir(dir)))
		if (walarchive_name_valid(d->d_name) && !strstr(d->d_name, ".partial"))
			strvec_push(&names, d->d_name);
	closedir(dir);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_names);
	for (size_t i = 0; i < names.n && !rc; i++) {
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", s->spool.buf, names.v[i]);
		already = 0;
		rc = walarchive_push(s->r, s->project, s->db, path.buf, s->level, &already, e);
		if (rc)
			break;
		/* committed: the spool's copy is no longer the only one */
		if (unlink(path.buf) < 0 && errno != ENOENT)
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot remove %s", path.buf);
		s->committed++;
		s->last_commit_s = (long long)time(NULL);
		log_info("wal-stream %s: archived %s%s", s->db, names.v[i],
			 already ? " (already archived, same content)" : "");
		/* its partial copies, whoever committed them: left behind they
		 * would be harmless (the segment wins in wal-fetch and the gap
		 * check; prune takes both), and the next start removes them */
		if (s->partial_ms && strlen(names.v[i]) == 24) {
			struct errbuf de = ERRBUF_INIT;

			if (walarchive_drop_partial(s->r, s->project, s->db, names.v[i], &de))
				log_warn("wal-stream %s: %s (the partial copy stays)", s->db, de.msg);
			if (!strncmp(s->up_name.buf, names.v[i], 24))
				strbuf_reset(&s->up_name);
		}
	}
	strvec_clear(&names);
	strbuf_release(&path);
	return rc;
}

/* The newest partial segment of the spool (pg_receivewal writes one at a
 * time) into name and its stat; 0 when there is none. */
static int newest_partial(struct stream *s, struct strbuf *name, struct stat *st)
{
	struct strbuf path = STRBUF_INIT;
	struct dirent *d;
	DIR *dir = opendir(s->spool.buf);
	int found = 0;

	strbuf_reset(name);
	if (!dir)
		return 0;
	while ((d = readdir(dir)))
		if (walarchive_name_valid(d->d_name) && strlen(d->d_name) == 24 + 8 &&
		    strcmp(d->d_name, name->buf) > 0) {
			strbuf_reset(name);
			strbuf_addstr(name, d->d_name);
		}
	closedir(dir);
	if (name->len) {
		strbuf_addf(&path, "%s/%s", s->spool.buf, name->buf);
		found = stat(path.buf, st) == 0;
	}
	strbuf_release(&path);
	return found;
}

static long long mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* An unnamed file in the spool (gone when closed): O_TMPFILE, or a
 * named one removed at once where the file system lacks it. */
static int snapshot_file(struct stream *s, int *fd, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;

	*fd = open(s->spool.buf, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		strbuf_addf(&path, "%s/.snapshot-XXXXXX", s->spool.buf);
		*fd = mkostemp(path.buf, O_CLOEXEC);
		if (*fd >= 0)
			unlink(path.buf);
	}
	if (*fd < 0)
		errbuf_errno(e, BL_EFAIL, errno, "cannot create a temporary file in %s",
			     s->spool.buf);
	strbuf_release(&path);
	return *fd < 0 ? e->code : 0;
}

/* Commit the spool's partial segment as its segment's partial copy
 * (wal_stream.partial_interval), when it changed since the last time. It
 * is copied first, SNAPSHOT_CHUNK bytes at a time and hashed on the way,
 * into an unnamed file in the spool: pg_receivewal keeps writing it, and
 * the copy must hash to what is stored; memory stays bounded whatever the
 * segment size. Any moment's content is a valid prefix of the segment's
 * WAL (it is written in order; recovery stops at the first incomplete
 * record). */
/* Whether fd, a .partial of st's size, holds WAL yet. pg_receivewal fills
 * a new segment file with zeros to its full size before it writes a byte
 * of WAL into it; a copy taken meanwhile is all zeros and short, which
 * recovery refuses ("has wrong size"). The first page's header is written
 * with the first WAL: a zero magic says none yet, and its long header's
 * xlp_seg_size (at byte 32, the server's byte order: a size that is no
 * power of two from 1 MiB to 1 GiB is not trusted) must not exceed what
 * the file holds. */
static int partial_ready(int fd, const struct stat *st)
{
	unsigned char hdr[36];
	uint16_t magic;
	uint32_t seg;

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return 0;
	memcpy(&magic, hdr, sizeof(magic));
	memcpy(&seg, hdr + 32, sizeof(seg));
	if (!magic)
		return 0;
	if (seg >= (1u << 20) && seg <= (1u << 30) && !(seg & (seg - 1)) &&
	    st->st_size < (off_t)seg)
		return 0;
	return 1;
}

static int commit_partial(struct stream *s, struct errbuf *e)
{
	struct strbuf name = STRBUF_INIT, path = STRBUF_INIT;
	char hex[ZSTREAM_SHA256_HEX], *buf = NULL;
	struct zhash *h = NULL;
	struct stat st;
	struct timespec read_at;
	ssize_t n;
	int rc = 0, fd = -1, snap = -1, stored = 0;

	s->last_partial = time_mono_ms();
	clock_gettime(CLOCK_REALTIME, &read_at);
	if (!newest_partial(s, &name, &st) ||
	    (!strcmp(name.buf, s->up_name.buf) && st.st_size == s->up_size &&
	     mtime_ns(&st) == s->up_mtime_ns))
		goto out;
	strbuf_addf(&path, "%s/%s", s->spool.buf, name.buf);
	fd = open(path.buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* renamed to its finished name in between: committed next tick */
		if (errno != ENOENT)
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path.buf);
		goto out;
	}
	if (!partial_ready(fd, &st))
		goto out; /* still being zero-filled: the next tick */
	if ((rc = snapshot_file(s, &snap, e)))
		goto out;
	buf = xmalloc(SNAPSHOT_CHUNK);
	h = zhash_new();
	for (;;) {
		n = read(fd, buf, SNAPSHOT_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", path.buf);
			goto out;
		}
		if (!n)
			break;
		zhash_update(h, buf, (size_t)n);
		if (fs_write_all(snap, buf, (size_t)n) < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot copy %s into %s", path.buf,
					  s->spool.buf);
			goto out;
		}
	}
	zhash_final(h, hex);
	if (lseek(snap, 0, SEEK_SET) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read back the copy of %s", path.buf);
		goto out;
	}
	rc = walarchive_put_partial(s->r, s->project, s->db, name.buf, snap, hex, s->level,
				    &stored, e);
	if (rc)
		goto out;
	strbuf_reset(&s->up_name);
	strbuf_addstr(&s->up_name, name.buf);
	s->up_size = (long long)st.st_size;
	s->up_mtime_ns = mtime_ns(&st);
	if (stored) {
		s->last_commit_s = (long long)time(NULL);
		/* when it was read (what it holds) and how long the commit took:
		 * bench/pitr.sh's repository lag */
		log_debug("wal-stream %s: committed the partial segment %s as read at %lld.%03ld "
			  "(%lld ms)", s->db, name.buf, (long long)read_at.tv_sec,
			  read_at.tv_nsec / 1000000, time_mono_ms() - s->last_partial);
	}
out:
	if (fd >= 0)
		close(fd);
	if (snap >= 0)
		close(snap);
	zhash_free(h);
	free(buf);
	strbuf_release(&name);
	strbuf_release(&path);
	return rc;
}

/* 1 when a probe's failure means the server did not answer: no SQLSTATE
 * (refused, unreachable, timed out, the connection lost) or a
 * connection-class one (08xxx). Any other is the server's answer. */
static int no_answer(const char *sqlstate)
{
	return !*sqlstate || !strncmp(sqlstate, "08", 2);
}

/* The server's WAL position minus the slot's restart_lsn, through a
 * replication connection (the role wal-stream needs anyway), within
 * PROBE_MS in all. *silent (if not NULL): 1 when it failed because the
 * server did not answer (no_answer), 0 for any other failure. */
static int slot_lag(struct stream *s, long long *lag, uint64_t *server, int *silent,
		    struct errbuf *e)
{
	struct strbuf ci = STRBUF_INIT, q = STRBUF_INIT;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	uint64_t pos = 0, restart = 0;
	const char *pw = s->envpw.len ? s->envpw.buf + strlen("PGPASSWORD=") : NULL;
	long long deadline = time_mono_ms() + PROBE_MS;
	char state[6] = "";
	int rc, ours = 0;

	strbuf_addf(&ci, "%s replication=true", s->ci.buf);
	rc = pg_connect_until(ci.buf, pw, deadline, &conn, state, e);
	if (!rc) /* simple protocol only */
		rc = pg_exec_until(conn, "IDENTIFY_SYSTEM", deadline, &res, state, e);
	if (!rc && (ours = basebackup_lsn_parse(PQgetvalue(res, 0, 2), &pos) != 0))
		rc = errbuf_set(e, BL_EFAIL, "IDENTIFY_SYSTEM: unexpected position %s",
				PQgetvalue(res, 0, 2));
	PQclear(res);
	res = NULL;
	if (!rc) {
		strbuf_addf(&q, "READ_REPLICATION_SLOT %s", s->slot.buf);
		rc = pg_exec_until(conn, q.buf, deadline, &res, state, e);
	}
	if (!rc && (ours = PQgetisnull(res, 0, 1) ||
			   basebackup_lsn_parse(PQgetvalue(res, 0, 1), &restart)))
		rc = errbuf_set(e, BL_EFAIL, "replication slot %s does not exist or holds no WAL",
				s->slot.buf);
	if (!rc)
		*lag = pos > restart ? (long long)(pos - restart) : 0;
	if (!rc && server)
		*server = pos;
	if (silent)
		*silent = rc && !ours && no_answer(state);
	PQclear(res);
	PQfinish(conn);
	strbuf_release(&ci);
	strbuf_release(&q);
	return rc;
}

static void report_lag(struct stream *s)
{
	struct errbuf e = ERRBUF_INIT;
	long long lag = 0;
	char proj[256], db[256], slot[256];
	struct strbuf labels = STRBUF_INIT;

	if (slot_lag(s, &lag, NULL, NULL, &e)) {
		log_warn("wal-stream %s: slot lag unknown: %s", s->db, e.msg);
		return;
	}
	if (lag > s->max_lag)
		log_warn("wal-stream %s: replication slot %s holds %lld MiB of WAL on the server "
			 "(max_slot_lag %lld MiB): the streamer is behind or the repository refuses "
			 "commits; the server's disk fills until it catches up (max_slot_wal_keep_size "
			 "bounds it)", s->db, s->slot.buf, lag >> 20, s->max_lag >> 20);
	if (!s->metrics.len)
		goto out;
	metrics_label_escape(config_str(s->cfg, "project", ""), proj, sizeof(proj));
	metrics_label_escape(s->db, db, sizeof(db));
	metrics_label_escape(s->slot.buf, slot, sizeof(slot));
	strbuf_addf(&labels, "project=\"%s\",database=\"%s\",slot=\"%s\"", proj, db, slot);
	{
		struct metric_sample m[] = {
			{ "ballast_wal_stream_slot_lag_bytes",
			  "WAL the server keeps for ballast's replication slot", "gauge", labels.buf,
			  (double)lag, 0 },
			{ "ballast_wal_stream_last_commit_timestamp_seconds",
			  "when wal-stream last committed a WAL file to the repository", "gauge",
			  labels.buf, (double)s->last_commit_s, 0 },
		};

		if (metrics_update(s->metrics.buf, m, s->last_commit_s ? 2 : 1, &e))
			log_warn("wal-stream %s: %s", s->db, e.msg);
	}
out:
	strbuf_release(&labels);
}

static int start_receiver(struct stream *s, struct child *c, struct strvec *argv,
			  const char *env[2], struct errbuf *e)
{
	strvec_clear(argv);
	/* A streamer killed with SIGKILL must not leave pg_receivewal behind:
	 * it would hold the slot (the next streamer's would be refused) and
	 * write into a spool nobody commits. TERM: it flushes what it has. */
	strvec_push(argv, "setpriv");
	strvec_push(argv, "--pdeathsig=TERM");
	strvec_push(argv, "--");
	for (size_t i = 0; i < s->cmd.n; i++)
		strvec_push(argv, s->cmd.v[i]);
	strvec_pushf(argv, "--directory=%s", s->spool.buf);
	strvec_pushf(argv, "--slot=%s", s->slot.buf);
	strvec_push(argv, "--no-loop");
	strvec_push(argv, "--no-password");
	if (s->o->synchronous)
		strvec_push(argv, "--synchronous");
	strvec_pushf(argv, "--dbname=%s", s->ci.buf);
	*c = (struct child)CHILD_INIT;
	c->argv = strvec_argv(argv);
	c->env = child_env(s, env);
	c->in_mode = PROC_NULL;
	/* its own messages (connection lost, ...) go where ours go */
	c->err_mode = PROC_INHERIT;
	return proc_start(c, e);
}

/* 1 when the child has exited (reaped; its status in c->status). */
static int reaped(struct child *c)
{
	int st;
	pid_t p = waitpid(c->pid, &st, WNOHANG);

	if (p == c->pid) {
		c->status = st;
		c->pid = -1;
		return 1;
	}
	return p < 0;
}

static void sleep_ticks(long long ms)
{
	long long until = time_mono_ms() + ms;

	while (!interrupt_signal && time_mono_ms() < until)
		usleep(100 * 1000);
}

/* The spool's state: its partial segment's name, size and mtime, and the
 * count of files committed. */
static void spool_signature(struct stream *s, struct strbuf *sig)
{
	struct strbuf name = STRBUF_INIT;
	struct stat st;

	strbuf_reset(sig);
	if (newest_partial(s, &name, &st))
		strbuf_addf(sig, "%s %lld %lld", name.buf, (long long)st.st_size, mtime_ns(&st));
	strbuf_addf(sig, " %lld", s->committed);
	strbuf_release(&name);
}

/* 1 when pg_receivewal is stuck, why says how: a proxy or NAT that stops
 * forwarding without closing keeps its TCP connection alive (keepalives
 * are answered), and pg_receivewal waits on it for ever. Once the spool
 * has not changed for stall_ms the server is asked for its WAL position
 * (a new connection, PROBE_MS in all): no answer (a network failure) is
 * a stall; an error the server answered with (no free WAL sender, ...) is
 * not, it is warned about once per message and asked again stall_ms
 * later: a healthy pg_receivewal is not stopped for it. A position is
 * remembered, and the next look, stall_ms later, finds a stall when the
 * server has flushed WAL since that has not arrived within
 * STALL_GRACE_MS. So a stall under writes is noticed within 2 x stall_ms
 * + STALL_GRACE_MS (+ PROBE_MS when the server does not answer); an idle
 * server is never a stall. */
static int stalled(struct stream *s, struct strbuf *why)
{
	struct strbuf sig = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	uint64_t pos = 0;
	long long lag, quiet = time_mono_ms() - s->spool_changed;
	int stuck = 0, silent = 0;

	spool_signature(s, &sig);
	if (strcmp(sig.buf, s->spool_sig.buf))
		goto changed;
	if (quiet < s->stall_ms)
		goto out;
	if (slot_lag(s, &lag, &pos, &silent, &e) && silent) {
		strbuf_addf(why, "no WAL arrived for %lld s and the server does not answer (%s)",
			    quiet / 1000, e.msg);
		stuck = 1;
		goto out;
	}
	if (e.code) {
		/* the server answered (too many WAL senders, a missing slot,
		 * ...): no stall; pg_receivewal reports its own trouble */
		if (strcmp(e.msg, s->probe_err.buf)) {
			log_warn("wal-stream %s: the stall check cannot ask the server for its WAL "
				 "position: %s (not counted as a stall)", s->db, e.msg);
			strbuf_reset(&s->probe_err);
			strbuf_addstr(&s->probe_err, e.msg);
		}
		s->spool_changed = time_mono_ms();
		goto out;
	}
	if (s->have_ref && pos > s->ref_pos) {
		sleep_ticks(STALL_GRACE_MS);
		spool_signature(s, &sig);
		if (strcmp(sig.buf, s->spool_sig.buf))
			goto changed;
		strbuf_addf(why, "the server flushed WAL up to %X/%X but none of it after %X/%X "
			    "arrived in %lld s", (unsigned)(pos >> 32), (unsigned)pos,
			    (unsigned)(s->ref_pos >> 32), (unsigned)s->ref_pos, quiet / 1000);
		stuck = 1;
		goto out;
	}
	s->have_ref = 1;
	s->ref_pos = pos;
	s->spool_changed = time_mono_ms();
	goto out;
changed:
	strbuf_reset(&s->spool_sig);
	strbuf_addstr(&s->spool_sig, sig.buf);
	s->spool_changed = time_mono_ms();
	s->have_ref = 0;
out:
	strbuf_release(&sig);
	return stuck;
}

/* SIGTERM (pg_receivewal flushes what it has), SIGKILL after
 * STOP_WAIT_MS. */
static void stop_receiver(struct child *c)
{
	long long until = time_mono_ms() + STOP_WAIT_MS;

	proc_kill(c, SIGTERM);
	while (!reaped(c)) {
		if (time_mono_ms() >= until) {
			proc_kill(c, SIGKILL);
			until = time_mono_ms() + 60 * 1000;
		}
		usleep(50 * 1000);
	}
}

/* Not fatal: a copy left behind is harmless (the segment wins in
 * wal-fetch and the gap check) and the next start tries again; streaming
 * is what keeps the server's disk from filling. */
static void drop_superseded(struct stream *s)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *dropped = json_array(), *v;
	size_t i;

	if (walarchive_drop_superseded(s->r, s->project, s->db, dropped, &e))
		log_warn("wal-stream %s: removing the partial copies of archived segments: %s",
			 s->db, e.msg);
	json_array_foreach(dropped, i, v)
		log_info("wal-stream %s: removed the partial copy of %s (the segment is archived)",
			 s->db, json_string_value(v));
	json_decref(dropped);
}

static int stream_loop(struct stream *s, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	const char *env[2];
	struct child c = CHILD_INIT;
	struct strbuf why = STRBUF_INIT;
	long long backoff = 1000, started, last_lag = 0, tick = TICK_MS;
	char how[128];
	int rc = 0;

	/* a short partial_interval is kept to within a fifth of a second */
	if (s->partial_ms && s->partial_ms < tick)
		tick = s->partial_ms < 200 ? 200 : s->partial_ms;
	while (!interrupt_signal) {
		struct errbuf ce = ERRBUF_INIT;

		if ((rc = start_receiver(s, &c, &argv, env, e)))
			break;
		started = time_mono_ms();
		s->spool_changed = started;
		s->have_ref = 0;
		log_info("wal-stream %s: streaming through slot %s into %s", s->db, s->slot.buf,
			 s->spool.buf);
		while (!interrupt_signal && !reaped(&c)) {
			if (commit_finished(s, &ce)) {
				log_warn("wal-stream %s: %s (kept in the spool; trying again)", s->db,
					 ce.msg);
				errbuf_clear(&ce);
			}
			if (s->partial_ms && time_mono_ms() - s->last_partial >= s->partial_ms &&
			    commit_partial(s, &ce)) {
				log_warn("wal-stream %s: the partial segment: %s (trying again)", s->db,
					 ce.msg);
				errbuf_clear(&ce);
			}
			if (time_mono_ms() - last_lag >= LAG_EVERY_MS) {
				report_lag(s);
				last_lag = time_mono_ms();
			}
			strbuf_reset(&why);
			if (stalled(s, &why)) {
				log_warn("wal-stream %s: %s: stopping %s to connect again", s->db, why.buf,
					 s->cmd.v[0]);
				stop_receiver(&c);
				break;
			}
			sleep_ticks(tick);
		}
		/* stopped by a signal: pg_receivewal flushes what it has */
		if (c.pid > 0)
			stop_receiver(&c);
		proc_describe_status(c.status, how, sizeof(how));
		proc_release(&c);
		if (commit_finished(s, &ce)) {
			log_warn("wal-stream %s: %s (kept in the spool)", s->db, ce.msg);
			errbuf_clear(&ce);
		}
		if (s->partial_ms && commit_partial(s, &ce))
			log_warn("wal-stream %s: the partial segment: %s", s->db, ce.msg);
		if (interrupt_signal)
			break;
		if (time_mono_ms() - started >= BACKOFF_RESET_MS)
			backoff = 1000;
		log_warn("wal-stream %s: %s %s; starting it again in %lld s", s->db, s->cmd.v[0], how,
			 backoff / 1000);
		sleep_ticks(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	if (!rc && interrupt_signal)
		log_info("wal-stream %s: stopped by signal %d; %lld file(s) archived", s->db,
			 (int)interrupt_signal, s->committed);
	strvec_clear(&argv);
	strbuf_release(&why);
	return rc;
}

static void stream_init(struct stream *s, const struct config *cfg, const struct walstream_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->o = o;
	s->lockfd = -1;
	strbuf_init(&s->spool, 0);
	strbuf_init(&s->slot, 0);
	strbuf_init(&s->ci, 0);
	strbuf_init(&s->envpw, 0);
	strbuf_init(&s->metrics, 0);
	strbuf_init(&s->up_name, 0);
	strbuf_init(&s->spool_sig, 0);
	strbuf_init(&s->probe_err, 0);
	s->cmd = (struct strvec)STRVEC_INIT;
}

static void stream_release(struct stream *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	repo_close(s->r);
	if (s->envpw.alloc)
		memset(s->envpw.buf, 0, s->envpw.alloc);
	strbuf_release(&s->spool);
	strbuf_release(&s->slot);
	strbuf_release(&s->ci);
	strbuf_release(&s->envpw);
	strbuf_release(&s->metrics);
	strbuf_release(&s->up_name);
	strbuf_release(&s->spool_sig);
	strbuf_release(&s->probe_err);
	strvec_clear(&s->cmd);
}

int walstream_lag(const struct config *cfg, const char *db, struct strbuf *slot, long long *lag,
		  long long *max, struct errbuf *e)
{
	struct walstream_opts o = { db, 0, 1 };
	struct stream s;
	int rc;

	stream_init(&s, cfg, &o);
	rc = setup(&s, e);
	strbuf_addstr(slot, s.slot.buf);
	*max = s.max_lag;
	if (!rc)
		rc = slot_lag(&s, lag, NULL, NULL, e);
	stream_release(&s);
	return rc;
}

int walstream_run(const struct config *cfg, const struct walstream_opts *o, struct errbuf *e)
{
	struct stream s;
	int rc;

	stream_init(&s, cfg, o);
	/* SIGTERM is how a service manager stops it: a normal end */
	interrupt_catch();
	rc = setup(&s, e);
	if (!rc)
		rc = backupset_open(s.cfg, &s.r, &s.project, e);
	if (!rc)
		rc = lock_spool(&s, e);
	/* what a killed streamer left finished in the spool goes first */
	if (!rc)
		rc = commit_finished(&s, e);
	/* then the partial copies it left of segments archived since (killed
	 * between committing a segment and deleting its copy) */
	if (!rc)
		drop_superseded(&s);
	if (!rc && o->once && s.partial_ms)
		rc = commit_partial(&s, e);
	if (!rc && o->once) {
		report_lag(&s);
		goto out;
	}
	if (!rc)
		rc = create_slot(&s, e);
	if (!rc)
		rc = stream_loop(&s, e);
out:
	stream_release(&s);
	return rc;
}

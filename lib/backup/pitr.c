#include "pitr.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basebackup.h"
#include "basebackup_item.h"
#include "backupset.h"
#include "config_schema.h"
#include "dbconn.h"
#include "dbdump.h"
#include "fsutil.h"
#include "interrupt.h"
#include "log.h"
#include "objread.h"
#include "pg.h"
#include "proc.h"
#include "shquote.h"
#include "timeutil.h"
#include "volume.h"
#include "walarchive.h"
#include "xalloc.h"

/* The temporary server listens on a socket only; any port number works. */
#define TEMP_PORT "5432"
#define POLL_MS 200
#define STOP_WAIT_MS (10 * 60 * 1000)

void pitr_result_init(struct pitr_result *res)
{
	memset(res, 0, sizeof(*res));
	strbuf_init(&res->data_dir, 0);
	strbuf_init(&res->kept, 0);
	strbuf_init(&res->undo, 0);
	strbuf_init(&res->lsn, 0);
	strbuf_init(&res->scratch, 0);
	res->replay_ms = -1;
}

void pitr_result_release(struct pitr_result *res)
{
	strbuf_release(&res->data_dir);
	strbuf_release(&res->kept);
	strbuf_release(&res->undo);
	strbuf_release(&res->lsn);
	strbuf_release(&res->scratch);
}

/* --- the target ---------------------------------------------------------- */

/* The time for recovery_target_time, in UTC with milliseconds. */
static void format_time(long long ms, struct strbuf *out)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	strbuf_addf(out, "%s.%03lld+00", buf, ms % 1000);
}

static const char *target_desc(const struct pitr_opts *o, struct strbuf *out)
{
	strbuf_reset(out);
	switch (o->target) {
	case PITR_LATEST:
		strbuf_addstr(out, "the end of the archived WAL");
		break;
	case PITR_TIME:
		strbuf_addf(out, "time %s", o->value);
		break;
	case PITR_NAME:
		strbuf_addf(out, "restore point \"%s\"", o->value);
		break;
	case PITR_LSN:
		strbuf_addf(out, "LSN %s", o->value);
		break;
	}
	return out->buf;
}

/* --- choosing the base backup ------------------------------------------- */

struct choice {
	char id[MANIFEST_ID_MAX];
	json_t *manifest;
	json_t *item;
	struct basebackup_meta meta;
};

/* 1 when the backup's copy ends before the target, so recovery from it can
 * reach the target. */
static int ends_before(const struct pitr_opts *o, const struct basebackup_meta *m,
		       long long t_ms, uint64_t lsn)
{
	if (o->target == PITR_TIME)
		return m->finished_ms <= t_ms;
	if (o->target == PITR_LSN || (o->target == PITR_NAME && lsn))
		return m->stop_lsn <= lsn;
	return 1;
}

static void restore_point_key(const char *project, const char *db, const char *name,
			      struct strbuf *out)
{
	walarchive_prefix(project, db, out);
	strbuf_addf(out, "restore-points/%s.json", name);
}

/* The LSN recorded for restore point name, 0 when none was recorded. */
static int recorded_lsn(struct repo *r, const char *project, const char *db, const char *name,
			uint64_t *lsn, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
	json_t *rec = NULL;
	long long size;
	int rc = 0, there = 0;

	*lsn = 0;
	if (!config_name_valid(name))
		return 0;
	restore_point_key(project, db, name, &key);
	rc = repo_exists(r, key.buf, &there, &size, e);
	if (!rc && there)
		rc = repo_get_bytes(r, key.buf, &text, 64 * 1024, e);
	if (!rc && there) {
		rec = json_loads(text.buf, 0, NULL);
		if (basebackup_lsn_parse(json_string_value(json_object_get(rec, "lsn")), lsn))
			rc = errbuf_set(e, BL_EVERIFY, "%s: not a restore point record", key.buf);
	}
	json_decref(rec);
	strbuf_release(&key);
	strbuf_release(&text);
	return rc;
}

static int load_choice(struct repo *r, const char *project, const char *id, const char *db,
		       struct choice *c, struct errbuf *e)
{
	int rc = backupset_load(r, project, id, &c->manifest, e);

	if (rc)
		return rc;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->item = manifest_find_item(c->manifest, BASEBACKUP_ITEM_TYPE, db);
	if (!c->item)
		return BL_EFAIL;
	return basebackup_item_get(c->item, &c->meta, e);
}

static int choose(struct repo *r, const char *project, const char *db,
		  const struct pitr_opts *o, struct choice *c, struct errbuf *e)
{
	struct strbuf desc = STRBUF_INIT;
	char first[MANIFEST_ID_MAX] = "";
	long long t_ms = -1, first_end = 0;
	uint64_t lsn = 0;
	json_t *list = NULL, *b;
	size_t i;
	int rc;

	if (o->target == PITR_TIME && (t_ms = time_iso_parse_ms(o->value)) < 0) {
		rc = errbuf_set(e, BL_EUSAGE, "--time %s: expected a time with its zone, like "
				"2026-12-05T18:30:00Z or \"2026-12-05 19:30:00+01:00\"", o->value);
		goto out;
	}
	if (o->target == PITR_LSN && basebackup_lsn_parse(o->value, &lsn)) {
		rc = errbuf_set(e, BL_EUSAGE, "--lsn %s: expected an LSN like 0/3000060", o->value);
		goto out;
	}
	if (o->target == PITR_NAME) {
		rc = recorded_lsn(r, project, db, o->value, &lsn, e);
		if (rc)
			goto out;
	}
	if (o->id) {
		char id[MANIFEST_ID_MAX];

		rc = backupset_resolve(r, project, o->id, id, sizeof(id), e);
		if (!rc)
			rc = load_choice(r, project, id, db, c, e);
		if (rc == BL_EFAIL && !c->item && c->manifest)
			rc = errbuf_set(e, BL_EUSAGE, "backup %s has no base backup of database %s",
					id, db);
		if (rc)
			goto out;
		if (!ends_before(o, &c->meta, t_ms, lsn)) {
			rc = errbuf_set(e, BL_EFAIL, "%s is before the end of base backup %s (it "
					"ended at %s, LSN %s): recovery from it cannot stop there",
					target_desc(o, &desc), id,
					json_string_value(json_object_get(c->item, "finished")),
					json_string_value(json_object_get(c->item, "stop_lsn")));
			goto out;
		}
		goto out;
	}
	rc = backupset_list(r, project, &list, e);
	if (rc)
		goto out;
	/* newest first */
	for (i = json_array_size(list); i-- > 0;) {
		struct choice t;
		struct errbuf le = ERRBUF_INIT;
		const char *id;

		b = json_array_get(list, i);
		id = json_string_value(json_object_get(b, "id"));
		if (strcmp(json_string_value(json_object_get(b, "status")) ?
			   json_string_value(json_object_get(b, "status")) : "", "good"))
			continue;
		memset(&t, 0, sizeof(t));
		if (load_choice(r, project, id, db, &t, &le)) {
			json_decref(t.manifest);
			continue;
		}
		snprintf(first, sizeof(first), "%s", id);
		first_end = t.meta.finished_ms;
		if (!ends_before(o, &t.meta, t_ms, lsn)) {
			json_decref(t.manifest);
			continue;
		}
		*c = t;
		goto out;
	}
	if (!first[0]) {
		rc = errbuf_set(e, BL_EFAIL, "no good backup in %s holds a base backup of database %s",
				repo_describe(r), db);
		goto out;
	}
	{
		char when[TIME_UTC_MAX];

		time_utc_format((time_t)(first_end / 1000), when);
		rc = errbuf_set(e, BL_EFAIL, "%s is before the end of the oldest base backup of "
				"database %s (%s, ended at %s): no backup can recover to it",
				target_desc(o, &desc), db, first, when);
	}
out:
	json_decref(list);
	strbuf_release(&desc);
	return rc;
}

/* --- the data directory and its siblings -------------------------------- */

/* How long the children of a killed postmaster get to exit: a wal-fetch
 * it was running finishes its segment first (seconds for 16 MiB under
 * load, in a sanitizer build). */
#define CWD_USER_WAIT_MS 30000

/* 1 when path/postmaster.pid names a process that exists. */
static int live_postmaster(const char *dir, long *pid)
{
	struct strbuf p = STRBUF_INIT;
	FILE *f;
	int live = 0;

	*pid = 0;
	strbuf_addf(&p, "%s/postmaster.pid", dir);
	f = fopen(p.buf, "re");
	if (f) {
		if (fscanf(f, "%ld", pid) == 1 && *pid > 0)
			live = kill((pid_t)*pid, 0) == 0 || errno == EPERM;
		fclose(f);
	}
	/* A postmaster killed a moment ago may linger as a zombie until its
	 * new parent reaps it: that one is not running. */
	if (live) {
		char st[64], buf[512];
		const char *paren;

		snprintf(st, sizeof(st), "/proc/%ld/stat", *pid);
		f = fopen(st, "re");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) &&
			    paren[1] == ' ' && paren[2] == 'Z')
				live = 0;
			fclose(f);
		}
	}
	strbuf_release(&p);
	return live;
}

/* A process whose working directory is dir (*pid names it): postgres's
 * children and the restore_command they run (wal-fetch) work in the data
 * directory and outlive a killed postmaster for a moment, writing into it
 * (RECOVERYXLOG, a last replayed page). Processes of other users that
 * /proc does not show us are not seen. */
static int cwd_user(const char *dir, long *pid)
{
	struct stat want, st;
	struct dirent *de;
	char link[64];
	DIR *d;
	int found = 0;

	*pid = 0;
	if (stat(dir, &want) < 0 || !(d = opendir("/proc")))
		return 0;
	while (!found && (de = readdir(d))) {
		char *end;
		long n = strtol(de->d_name, &end, 10);

		if (*end || n <= 0 || n == (long)getpid())
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/cwd", n);
		if (stat(link, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
			*pid = n;
			found = 1;
		}
	}
	closedir(d);
	return found;
}

/* Waits up to timeout_ms for the processes working in dir to leave;
 * 1 (and *pid) when one is still there. */
static int cwd_user_wait(const char *dir, int timeout_ms, long *pid)
{
	/* wall time, not a count of sleeps: each scan of /proc takes time
	 * of its own, more on a loaded machine */
	long long deadline = time_mono_ms() + timeout_ms;

	while (cwd_user(dir, pid)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (time_mono_ms() >= deadline)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void split(const char *path, struct strbuf *parent, struct strbuf *base)
{
	const char *s = strrchr(path, '/');

	strbuf_reset(parent);
	strbuf_reset(base);
	strbuf_add(parent, path, s == path ? 1 : (size_t)(s - path));
	strbuf_addstr(base, s + 1);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A kept DIR.ballast-old-<id> is the only copy of what an earlier
 * restore replaced: never overwritten, never merged into. */
static int refuse_kept(const char *olddir, const char *id, struct errbuf *e)
{
	if (!exists(olddir))
		return 0;
	return errbuf_set(e, BL_EFAIL, "%s already exists (kept by an earlier restore of backup "
			  "%s): move it away first", olddir, id);
}

/* Siblings left by a restore that was killed: see the contract, step 4.
 * check_live: a postmaster.pid there may name a host process (not in a
 * volume, whose servers run in containers). */
static int clean_siblings(const char *dir, int check_live, struct errbuf *e)
{
	struct strbuf parent = STRBUF_INIT, base = STRBUF_INIT, pfx = STRBUF_INIT,
		      path = STRBUF_INIT, marker = STRBUF_INIT, old = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	split(dir, &parent, &base);
	strbuf_addf(&pfx, "%s.ballast-new-", base.buf);
	d = opendir(parent.buf);
	if (!d)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", parent.buf);
	/* A killed run's server, and its children after it, still write into
	 * the siblings (its data directory; wal-fetch's report in the run
	 * directory): all of them must be gone before anything is removed. */
	while (check_live && !rc && (de = readdir(d))) {
		long pid;

		if (strncmp(de->d_name, pfx.buf, pfx.len))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", parent.buf, de->d_name);
		if (live_postmaster(path.buf, &pid))
			rc = errbuf_set(e, BL_EFAIL, "a postgres (pid %ld) still runs on %s, left by "
					"an interrupted restore: stop it first", pid, path.buf);
		else if (cwd_user_wait(path.buf, CWD_USER_WAIT_MS, &pid))
			rc = errbuf_set(e, BL_EFAIL, "process %ld still works in %s, left by an "
					"interrupted restore: stop it first", pid, path.buf);
	}
	rewinddir(d);
	while (!rc && (de = readdir(d))) {
		/* DIR.ballast-tmp-*: a sibling killed before it got its marker;
		 * DIR.ballast-run-*: a killed run's socket directory and log */
		if (!strncmp(de->d_name, base.buf, base.len) &&
		    (!strncmp(de->d_name + base.len, ".ballast-tmp-", 13) ||
		     !strncmp(de->d_name + base.len, ".ballast-run-", 13))) {
			strbuf_reset(&path);
			strbuf_addf(&path, "%s/%s", parent.buf, de->d_name);
			rc = volume_remove_tree(path.buf, e);
			continue;
		}
		if (strncmp(de->d_name, pfx.buf, pfx.len))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", parent.buf, de->d_name);
		strbuf_reset(&marker);
		strbuf_addf(&marker, "%s/" PITR_MARKER, path.buf);
		if (exists(marker.buf)) {
			log_info("removing %s, left by an interrupted restore", path.buf);
			rc = volume_remove_tree(path.buf, e);
			continue;
		}
		/* No marker: the old data, exchanged out of DIR by a restore
		 * killed before it could rename it. Keep it under the kept name. */
		strbuf_reset(&old);
		strbuf_addf(&old, "%s/%s.ballast-old-%s", parent.buf, base.buf,
			    de->d_name + pfx.len);
		if (exists(old.buf) || rename(path.buf, old.buf) < 0)
			log_warn("%s holds the data directory replaced by an interrupted restore; "
				 "left as it is", path.buf);
		else
			log_warn("%s was the data directory before an interrupted restore; kept as %s",
				 path.buf, old.buf);
	}
	closedir(d);
	/* DIR's own marker: a restore killed after its swap, so DIR holds
	 * that restore's finished data and only the marker is left over. */
	strbuf_reset(&marker);
	strbuf_addf(&marker, "%s/" PITR_MARKER, dir);
	if (!rc && exists(marker.buf)) {
		log_info("removing %s, left by a restore interrupted after its swap", marker.buf);
		if (unlink(marker.buf) < 0 || fs_fsync_dir(dir))
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot remove %s", marker.buf);
	}
	if (!rc)
		fs_fsync_dir(parent.buf);
	strbuf_release(&parent);
	strbuf_release(&base);
	strbuf_release(&pfx);
	strbuf_release(&path);
	strbuf_release(&marker);
	strbuf_release(&old);
	return rc;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	if ((st->st_uid != chown_uid || st->st_gid != chown_gid) &&
	    lchown(path, chown_uid, chown_gid) < 0)
		return errno ? errno : EPERM;
	return 0;
}

/* The restored tree belongs to whoever runs postgres for DIR (a backup
 * from a container carries the container's uid). */
static int chown_tree(const char *dir, uid_t uid, gid_t gid, struct errbuf *e)
{
	int r;

	chown_uid = uid;
	chown_gid = gid;
	r = nftw(dir, chown_one, 32, FTW_PHYS);
	if (r)
		return errbuf_errno(e, BL_EFAIL, r > 0 ? r : errno, "cannot give %s to uid %u",
				    dir, (unsigned)uid);
	return 0;
}

static int write_file(const char *path, const char *text, uid_t uid, gid_t gid,
		      struct errbuf *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;
	size_t n = strlen(text);

	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", path);
	if ((n && write(fd, text, n) != (ssize_t)n) || fsync(fd) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", path);
	if (!rc && geteuid() == 0 && fchown(fd, uid, gid) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot give %s to uid %u", path,
				  (unsigned)uid);
	close(fd);
	return rc;
}

/* --- extraction ---------------------------------------------------------- */

static int obj_source(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	return objread_read(ctx, buf, cap, got, e);
}

static int extract(struct repo *r, json_t *obj, const char *dir, struct errbuf *e)
{
	struct volume_stats st = VOLUME_STATS_INIT;
	struct manifest_obj mo;
	struct objread *rd = NULL;
	int rc = manifest_obj_get(obj, &mo, e);

	if (!rc)
		rc = objread_open(r, mo.key, mo.size, mo.sha256, &rd, e);
	if (!rc)
		rc = volume_extract(dir, obj_source, rd, &st, e);
	objread_close(rd);
	volume_stats_release(&st);
	return rc;
}

/* --- the temporary server ------------------------------------------------ */

struct temp_pg {
	struct child c;
	int started;
	struct strbuf sock, log, report, envrep;
	/* c's argv and environment, alive as long as c */
	struct strvec argv;
	const char *env[2];
};

static void bin_path(const char *bindir, const char *prog, struct strbuf *out)
{
	strbuf_reset(out);
	if (bindir && *bindir)
		strbuf_addf(out, "%s/%s", bindir, prog);
	else
		strbuf_addstr(out, prog);
}

/* The FATAL/PANIC line of the server's log that says why it stopped. */
static void log_reason(const char *logpath, struct strbuf *out)
{
	char line[1024];
	FILE *f = fopen(logpath, "re");

	strbuf_reset(out);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *hit = strstr(line, "FATAL:");

		if (!hit)
			hit = strstr(line, "PANIC:");
		if (!hit)
			continue;
		strbuf_reset(out);
		strbuf_addstr(out, hit);
		strbuf_rtrim(out);
		/* the first FATAL is the cause; later ones are consequences */
		if (strstr(line, "recovery ended before") || strstr(line, "recovery stop point"))
			break;
	}
	fclose(f);
}

/* 1 when the child has exited (not reaped: proc_finish does that). */
static int exited(struct child *c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == c->pid;
}

static void temp_stop(struct temp_pg *t, int sig)
{
	struct errbuf ignore = ERRBUF_INIT;
	long long deadline = time_mono_ms() + STOP_WAIT_MS;

	if (!t->started)
		return;
	kill(t->c.pid, sig);
	while (!exited(&t->c) && time_mono_ms() < deadline)
		usleep(100 * 1000);
	if (!exited(&t->c))
		proc_kill(&t->c, SIGKILL);
	proc_finish(&t->c, &ignore);
	proc_release(&t->c);
	t->started = 0;
}

/* --- the engine ---------------------------------------------------------- */

static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int query_state(const char *conninfo, struct strbuf *inrec, struct strbuf *lsn,
		       struct strbuf *tli, struct errbuf *e)
{
	PGconn *conn = NULL;
	int rc = pg_connect(conninfo, NULL, &conn, e);

	/* The server's own words go to its log; a WARNING sent to this
	 * polling session when recovery fails is not ours to print. */
	if (!rc)
		PQsetNoticeProcessor(conn, quiet_notice, NULL);
	if (!rc)
		rc = pg_value(conn, "SELECT pg_is_in_recovery()", inrec, e);
	if (!rc && !strcmp(inrec->buf, "f"))
		rc = pg_value(conn, "SELECT pg_current_wal_lsn()::text", lsn, e);
	if (!rc && !strcmp(inrec->buf, "f"))
		rc = pg_value(conn, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) || "
			      "'/' || (SELECT count(*) FROM pg_database)", tli, e);
	PQfinish(conn);
	return rc;
}

/* What both a restore and a drill recover from: the database, the chosen
 * base backup and the archive it needs. */
struct plan {
	json_t *spec;
	const char *db;
	struct repo *r;
	const char *project;
	struct choice c;
	json_t *names;
	struct strbuf bindir;
	/* set with a failure that says the backup or its archive cannot
	 * deliver the target (a gap, recovery ending early), as opposed to one
	 * that says the restore could not be carried out */
	int verdict;
};

static void plan_release(struct plan *p)
{
	repo_close(p->r);
	json_decref(p->c.manifest);
	json_decref(p->names);
	strbuf_release(&p->bindir);
}

/* Steps 2 and 3 of the contract: the base backup, and an archive without
 * a gap from its stop segment on. */
static int plan_choose(const struct config *cfg, const struct pitr_opts *o, struct plan *p,
		       struct pitr_result *res, struct errbuf *e)
{
	struct strbuf gap = STRBUF_INIT, history = STRBUF_INIT;
	char stop_wal[BASEBACKUP_WAL_NAME];
	int rc = backupset_open(cfg, &p->r, &p->project, e);

	if (!rc)
		rc = choose(p->r, p->project, p->db, o, &p->c, e);
	if (rc)
		goto out;
	snprintf(res->id, sizeof(res->id), "%s", p->c.id);
	basebackup_wal_name(p->c.meta.timeline, p->c.meta.stop_lsn, p->c.meta.wal_segment_size,
			    stop_wal);
	rc = walarchive_list(p->r, p->project, p->db, &p->names, e);
	if (rc)
		goto out;
	{
		/* the way recovery_target_timeline takes: latest (0), current
		 * (the backup's own) or a number as PostgreSQL reads it */
		const char *tw = o->timeline ? o->timeline : "latest";
		unsigned want = !strcmp(tw, "latest") ? 0 : !strcmp(tw, "current") ?
				p->c.meta.timeline : (unsigned)strtoul(tw, NULL, 0);
		unsigned target = p->c.meta.timeline;

		rc = walarchive_history(p->r, p->names, p->c.meta.timeline, want, &target, &history,
					e);
		if (rc)
			goto out;
		walarchive_gap(p->names, p->c.meta.timeline, stop_wal, p->c.meta.wal_segment_size,
			       target, history.len ? history.buf : NULL, &gap);
	}
	if (gap.len) {
		p->verdict = 1;
		rc = errbuf_set(e, BL_EFAIL, "wal segment %s is missing from the archive (%s, "
				"%s/wal/%s/): recovery from backup %s would stop there", gap.buf,
				repo_describe(p->r), p->project, p->db, p->c.id);
	}
out:
	strbuf_release(&gap);
	strbuf_release(&history);
	return rc;
}

/* Step 5 after the directory is made: the base backup extracted into dir
 * (owned by uid), checked by pg_verifybackup, given recovery.signal. */
static int stage_copy(struct plan *p, const char *dir, uid_t uid, gid_t gid, long long t_all,
		      struct errbuf *e)
{
	struct strbuf prog = STRBUF_INIT, tmp = STRBUF_INIT;
	struct strvec argv = STRVEC_INIT;
	int rc = extract(p->r, p->c.meta.object, dir, e);

	if (!rc)
		rc = interrupt_check(e);
	if (!rc && geteuid() == 0)
		rc = chown_tree(dir, uid, gid, e);
	if (!rc && chmod(dir, 0700) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot chmod %s", dir);
	if (rc)
		goto out;

	/* The binaries of the backup's major version. */
	if (json_string_value(json_object_get(p->spec, "pg_bindir")))
		strbuf_addstr(&p->bindir, json_string_value(json_object_get(p->spec, "pg_bindir")));
	else {
		strbuf_addf(&p->bindir, "/usr/lib/postgresql/%s/bin", p->c.meta.pg_version);
		if (!exists(p->bindir.buf))
			strbuf_reset(&p->bindir);
	}
	/* The server's own check of the copy against its backup_manifest,
	 * WAL included, before anything runs on it. */
	bin_path(p->bindir.buf, "pg_verifybackup", &prog);
	strvec_push(&argv, prog.buf);
	strvec_push(&argv, "--quiet");
	strvec_push(&argv, "--ignore=" PITR_MARKER);
	strvec_push(&argv, dir);
	log_info("database %s: base backup extracted into %s (%lld ms)", p->db, dir,
		 time_mono_ms() - t_all);
	rc = proc_run(strvec_argv(&argv), NULL, NULL, NULL, 0, e);
	if (!rc)
		log_info("database %s: pg_verifybackup passed (%lld ms)", p->db,
			 time_mono_ms() - t_all);
	if (rc) {
		rc = BL_EVERIFY;
		errbuf_prefix(e, "base backup %s does not match its backup_manifest: ", p->c.id);
		e->code = rc;
		goto out;
	}
	strbuf_addf(&tmp, "%s/recovery.signal", dir);
	rc = write_file(tmp.buf, "", uid, gid, e);
	/* Debian keeps postgresql.conf outside the data directory; postgres
	 * -D needs one there. */
	strbuf_reset(&tmp);
	strbuf_addf(&tmp, "%s/postgresql.conf", dir);
	if (!rc && !exists(tmp.buf))
		rc = write_file(tmp.buf, "# written by ballast-backup restore --pitr: this "
				"cluster's configuration lived outside its data directory\n", uid,
				gid, e);
out:
	strvec_clear(&argv);
	strbuf_release(&prog);
	strbuf_release(&tmp);
	return rc;
}

/* The temporary server's private socket directory: want (removed first
 * if it is there) when the socket's path fits in sun_path, else a fresh
 * one under $TMPDIR; owned by uid. */
static int sock_dir(const char *want, uid_t uid, gid_t gid, struct strbuf *out, struct errbuf *e)
{
	if (strlen(want) + sizeof("/.s.PGSQL." TEMP_PORT) <= 100) {
		struct errbuf ignore = ERRBUF_INIT;

		volume_remove_tree(want, &ignore);
		if (mkdir(want, 0700) < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", want);
		strbuf_addstr(out, want);
	} else {
		const char *tdir = getenv("TMPDIR");
		char tmpl[4096];

		snprintf(tmpl, sizeof(tmpl), "%s/ballast-pitr-XXXXXX", tdir && *tdir ? tdir : "/tmp");
		if (!mkdtemp(tmpl))
			return errbuf_errno(e, BL_EFAIL, errno, "cannot create a directory in %s",
					    tdir && *tdir ? tdir : "/tmp");
		strbuf_addstr(out, tmpl);
	}
	if (geteuid() == 0 && chown(out->buf, uid, gid) < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot give %s to uid %u", out->buf,
				    (unsigned)uid);
	return 0;
}

/* Step 6 and the first part of 7: a temporary postgres on dir (its socket
 * directory already in t->sock) recovers to the target and promotes. It
 * is left running; ci is the conninfo that reached it. archive: the
 * promoted server sends its new timeline's history file to the archive
 * (a restore: it becomes the database); a drill's must not, or the next
 * recovery to the latest timeline would follow the drill's. */
static int recover(struct plan *p, const struct pitr_opts *o, const char *dir, uid_t uid,
		   gid_t gid, int archive, struct temp_pg *t, struct strbuf *ci,
		   struct pitr_result *res, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT, desc = STRBUF_INIT, prog = STRBUF_INIT,
		      cmd = STRBUF_INIT, inrec = STRBUF_INIT, tli = STRBUF_INIT,
		      reason = STRBUF_INIT;
	struct strvec *argv = &t->argv;
	struct stat st;
	int rc, logfd;
	long long t0;

	strbuf_addf(&tmp, "%s/pg_hba.conf", t->sock.buf);
	rc = write_file(tmp.buf, "local all all trust\n", uid, gid, e);
	if (rc)
		goto out;
	strbuf_addf(&t->log, "%s/postgres.log", t->sock.buf);
	strbuf_addf(&t->report, "%s/wal-fetch.report", t->sock.buf);
	strbuf_addf(&t->envrep, WALARCHIVE_REPORT_ENV "=%s", t->report.buf);
	t->env[0] = t->envrep.buf;

	strvec_push(argv, "setpriv");
	strvec_push(argv, "--pdeathsig=KILL");
	if (geteuid() == 0) {
		strvec_pushf(argv, "--reuid=%u", (unsigned)uid);
		strvec_pushf(argv, "--regid=%u", (unsigned)gid);
		strvec_push(argv, "--clear-groups");
	}
	strvec_push(argv, "--");
	bin_path(p->bindir.buf, "postgres", &prog);
	strvec_push(argv, prog.buf);
	strvec_push(argv, "-D");
	strvec_push(argv, dir);
	strvec_push(argv, "-p");
	strvec_push(argv, TEMP_PORT);
	strvec_push(argv, "-c");
	strvec_push(argv, "listen_addresses=");
	strvec_pushf(argv, "-cunix_socket_directories=%s", t->sock.buf);
	strvec_pushf(argv, "-chba_file=%s", tmp.buf);
	/* Nothing the temporary server writes needs to be durable on its own:
	 * a crash leaves only the sibling (removed by the next run), and the
	 * whole tree is synced once (syncfs) before it is swapped in. Without
	 * this, startup alone fsyncs every file of the copy one by one. */
	strvec_push(argv, "-cfsync=off");
	strvec_push(argv, "-cssl=off");
	strvec_push(argv, "-clogging_collector=off");
	strvec_push(argv, "-clog_destination=stderr");
	strvec_push(argv, archive ? "-carchive_mode=on" : "-carchive_mode=off");
	strvec_push(argv, "-carchive_timeout=0");
	{
		const char *fetch[] = { o->self, "--config", o->config_path, "wal-fetch", "--db",
					p->db, NULL };
		const char *push[] = { o->self, "--config", o->config_path, "wal-push", "--db",
				       p->db, NULL };

		shquote_argv(&cmd, fetch);
		strvec_pushf(argv, "-crestore_command=%s %%f %%p", cmd.buf);
		strbuf_reset(&cmd);
		shquote_argv(&cmd, push);
		if (archive)
			strvec_pushf(argv, "-carchive_command=%s %%p", cmd.buf);
	}
	strvec_pushf(argv, "-crecovery_target_timeline=%s", o->timeline ? o->timeline : "latest");
	switch (o->target) {
	case PITR_LATEST:
		break;
	case PITR_TIME:
		strbuf_reset(&cmd);
		format_time(time_iso_parse_ms(o->value), &cmd);
		strvec_pushf(argv, "-crecovery_target_time=%s", cmd.buf);
		break;
	case PITR_NAME:
		strvec_pushf(argv, "-crecovery_target_name=%s", o->value);
		break;
	case PITR_LSN:
		strvec_pushf(argv, "-crecovery_target_lsn=%s", o->value);
		break;
	}
	if (o->target != PITR_LATEST)
		strvec_push(argv, "-crecovery_target_action=promote");

	logfd = open(t->log.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", t->log.buf);
		goto out;
	}
	t->c.argv = strvec_argv(argv);
	t->c.env = t->env;
	t->c.in_mode = PROC_NULL;
	t->c.out_mode = PROC_FD;
	t->c.out = logfd;
	t->c.err_mode = PROC_FD;
	t->c.err = logfd;
	t0 = time_mono_ms();
	rc = proc_start(&t->c, e);
	t->c.out = t->c.err = -1;
	close(logfd);
	if (rc)
		goto out;
	t->started = 1;

	/* Until promotion: the server exits when recovery cannot go on. */
	{
		struct strbuf u = STRBUF_INIT;

		if (!pg_conninfo_get(json_string_value(json_object_get(p->spec, "conninfo")),
				     "user", &u))
			strbuf_addstr(&u, "postgres");
		/* client_min_messages: the WARNING a backend gets when recovery
		 * fails can arrive while connecting, before a notice processor
		 * could be set. */
		pg_conninfo_add(ci, "host", t->sock.buf);
		strbuf_addstr(ci, " port=" TEMP_PORT " dbname=template1 connect_timeout=10 "
			      "options='-c client_min_messages=error'");
		pg_conninfo_add(ci, "user", u.buf);
		strbuf_release(&u);
	}
	for (;;) {
		struct errbuf qe = ERRBUF_INIT;

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "%s of database %s", archive ? "restore" : "drill", p->db);
			goto out;
		}
		if (exited(&t->c)) {
			log_reason(t->log.buf, &reason);
			if (strstr(reason.buf, "recovery ended before configured recovery target")) {
				p->verdict = 1;
				rc = errbuf_set(e, BL_EFAIL, "recovery from backup %s ended before it "
						"reached %s: the archived WAL does not reach it on "
						"timeline %s%s", p->c.id, target_desc(o, &desc),
						o->timeline ? o->timeline : "latest",
						o->target == PITR_NAME && !o->id ? " (a restore point "
						"made before this backup needs --id of an older one)" :
						"");
			} else {
				rc = errbuf_set(e, BL_EFAIL, "the temporary postgres on %s stopped: %s",
						dir, reason.len ? reason.buf :
						"no FATAL line in its log");
			}
			goto out;
		}
		strbuf_reset(&inrec);
		if (!query_state(ci->buf, &inrec, &res->lsn, &tli, &qe) && !strcmp(inrec.buf, "f"))
			break;
		usleep(POLL_MS * 1000);
	}
	res->recovery_ms = time_mono_ms() - t0;
	res->timeline = (unsigned)strtoul(tli.buf, NULL, 16);
	/* A WAL file that wal-fetch refused as damaged looks like the end of
	 * the archive to the server, which then promotes early. */
	strbuf_reset(&tmp);
	if (!exists(t->report.buf) || (stat(t->report.buf, &st) == 0 && st.st_size == 0)) {
		log_info("database %s: recovered to %s and promoted (timeline %u, LSN %s, %s "
			 "databases)", p->db, target_desc(o, &desc), res->timeline, res->lsn.buf,
			 strchr(tli.buf, '/') ? strchr(tli.buf, '/') + 1 : "?");
	} else {
		FILE *f = fopen(t->report.buf, "re");
		char line[ERRBUF_MSG_MAX];

		if (f && fgets(line, sizeof(line), f))
			strbuf_addstr(&tmp, line);
		if (f)
			fclose(f);
		strbuf_rtrim(&tmp);
		rc = errbuf_set(e, BL_EVERIFY, "refusing the restore: %s", tmp.buf);
		goto out;
	}
out:
	strbuf_release(&tmp);
	strbuf_release(&desc);
	strbuf_release(&prog);
	strbuf_release(&cmd);
	strbuf_release(&inrec);
	strbuf_release(&tli);
	strbuf_release(&reason);
	return rc;
}

static void temp_init(struct temp_pg *t)
{
	memset(t, 0, sizeof(*t));
	t->c = (struct child)CHILD_INIT;
	strbuf_init(&t->sock, 0);
	strbuf_init(&t->log, 0);
	strbuf_init(&t->report, 0);
	strbuf_init(&t->envrep, 0);
	t->argv = (struct strvec)STRVEC_INIT;
}

/* Stop the server if it runs, remove its socket directory (and log). */
static void temp_release(struct temp_pg *t, int failed)
{
	if (t->started)
		temp_stop(t, SIGQUIT);
	if (t->sock.len) {
		struct errbuf ignore = ERRBUF_INIT;

		if (failed && exists(t->log.buf))
			log_info("the temporary server's log was %s (removed)", t->log.buf);
		volume_remove_tree(t->sock.buf, &ignore);
	}
	strbuf_release(&t->sock);
	strbuf_release(&t->log);
	strbuf_release(&t->report);
	strbuf_release(&t->envrep);
	strvec_clear(&t->argv);
}

/* A scratch directory's run holds an flock on this file inside it for
 * its whole life. Names alone cannot tell runs apart: prefixes are
 * "ballast-drill-<project>-<db>-", and project "shop-a" with database "b"
 * shares one with project "shop" and database "a-b", whose drills a
 * per-project lock does not keep apart. */
#define SCRATCH_LOCK ".ballast.lock"
/* A directory without the lock file younger than this may be a run
 * between its mkdtemp and its lock. */
#define SCRATCH_YOUNG_S 60

/* Whether top belongs to a live run (its lock is held, or it is too young
 * to tell). */
static int scratch_in_use(const char *top)
{
	struct strbuf lock = STRBUF_INIT;
	struct stat st;
	int fd, busy = 0;

	strbuf_addf(&lock, "%s/" SCRATCH_LOCK, top);
	fd = open(lock.buf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
	} else if (errno == ENOENT && stat(top, &st) == 0) {
		busy = st.st_mtime > time(NULL) - SCRATCH_YOUNG_S;
	}
	strbuf_release(&lock);
	return busy;
}

/* Scratch directories "<parent>/<prefix>*" of drills and volume restores
 * that were killed (their server died with them: setpriv --pdeathsig).
 * One whose run still holds its lock, or whose server still runs, is left
 * alone. */
static int clean_scratch(const char *parent, const char *prefix, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, data = STRBUF_INIT;
	struct dirent *de;
	size_t n = strlen(prefix);
	DIR *d = opendir(parent);
	int rc = 0;
	long pid;

	if (!d)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot read the scratch directory %s",
				    parent);
	while (!rc && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, n))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", parent, de->d_name);
		if (scratch_in_use(path.buf))
			continue;
		strbuf_reset(&data);
		strbuf_addf(&data, "%s/data", path.buf);
		if (live_postmaster(data.buf, &pid)) {
			log_warn("%s is left as it is: a postgres (pid %ld) still runs on it", path.buf,
				 pid);
			continue;
		}
		/* its postmaster died with the run; its children go a moment later */
		if (cwd_user_wait(data.buf, CWD_USER_WAIT_MS, &pid)) {
			log_warn("%s is left as it is: process %ld still works in it", path.buf, pid);
			continue;
		}
		log_info("removing %s, left by an interrupted drill or restore", path.buf);
		rc = volume_remove_tree(path.buf, e);
	}
	closedir(d);
	strbuf_release(&path);
	strbuf_release(&data);
	return rc;
}

/* A fresh "<parent>/<prefix>XXXXXX" (top) holding an empty "data" (data),
 * both owned by uid, after the ones of killed runs are removed
 * (clean_scratch); *lock holds top's lock (SCRATCH_LOCK) until the caller
 * closes it, after removing top. top is set as soon as it exists: the
 * caller removes it. */
static int scratch_make(const char *parent, const char *prefix, uid_t uid, gid_t gid,
			struct strbuf *top, struct strbuf *data, int *lock, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	int rc = clean_scratch(parent, prefix, e);

	if (rc)
		return rc;
	strbuf_addf(top, "%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(top->buf)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create a scratch directory in %s",
				  parent);
		strbuf_reset(top);
		return rc;
	}
	strbuf_addf(&path, "%s/" SCRATCH_LOCK, top->buf);
	*lock = open(path.buf, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*lock < 0 || flock(*lock, LOCK_EX | LOCK_NB) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot lock %s", path.buf);
	strbuf_release(&path);
	if (rc)
		return rc;
	strbuf_addf(data, "%s/data", top->buf);
	if (mkdir(data->buf, 0700) < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", data->buf);
	if (geteuid() == 0 && (chown(top->buf, uid, gid) < 0 || chown(data->buf, uid, gid) < 0))
		return errbuf_errno(e, BL_EFAIL, errno, "cannot give %s to uid %u", top->buf,
				    (unsigned)uid);
	return 0;
}

/* --- a Docker named volume ------------------------------------------------ */

/* docker's own rule for volume names; it also keeps a name from reaching
 * docker's command line as an option. */
static int docker_volume_name_ok(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]) || !s[1])
		return 0;
	for (i = 1; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

/* The directory of a local volume without mount options: one that mounts
 * a device or a share (driver options) is a directory only while a
 * container uses it. docker is the one on PATH, as for dbconn. */
static int docker_volume_dir(const char *name, struct strbuf *dir, struct errbuf *e)
{
	const char *argv[] = { "docker", "volume", "inspect", "--format",
			       "{{.Driver}} {{len .Options}} {{.Mountpoint}}", name, NULL };
	struct strbuf out = STRBUF_INIT;
	char driver[64] = "";
	int nopts = -1, at = 0, rc;

	if (!docker_volume_name_ok(name))
		return errbuf_set(e, BL_EUSAGE, "--docker-volume %s: expected a volume name (a letter "
				  "or digit, then letters, digits, '_', '.' or '-')", name);
	rc = proc_run(argv, NULL, NULL, &out, DBCONN_INSPECT_TIMEOUT_MS, e);
	if (rc) {
		if (strcasestr(e->msg, "no such volume"))
			rc = errbuf_set(e, BL_EUSAGE, "docker volume %s does not exist (docker volume "
					"ls lists them)", name);
		else
			errbuf_prefix(e, "docker volume %s: cannot inspect it: ", name);
		goto out;
	}
	strbuf_rtrim(&out);
	if (sscanf(out.buf, "%63s %d %n", driver, &nopts, &at) < 2 || !at) {
		rc = errbuf_set(e, BL_EFAIL, "docker volume %s: unexpected answer from docker volume "
				"inspect: \"%s\"", name, out.buf);
		goto out;
	}
	if (strcmp(driver, "local")) {
		rc = errbuf_set(e, BL_EUSAGE, "docker volume %s has driver %s: expected the local "
				"driver (a directory on this host)", name, driver);
		goto out;
	}
	if (nopts) {
		rc = errbuf_set(e, BL_EUSAGE, "docker volume %s mounts a device or share (driver "
				"options): restore into that with --data-dir", name);
		goto out;
	}
	if (out.buf[at] != '/') {
		rc = errbuf_set(e, BL_EFAIL, "docker volume %s: docker volume inspect gave no "
				"Mountpoint (\"%s\")", name, out.buf);
		goto out;
	}
	strbuf_addstr(dir, out.buf + at);
out:
	strbuf_release(&out);
	return rc;
}

/* Refuse while a running container uses the volume: its server owns the
 * data (the pid in a postmaster.pid there is the container's, not one
 * this host can look up). */
static int docker_volume_unused(const char *name, struct errbuf *e)
{
	struct strbuf filter = STRBUF_INIT, out = STRBUF_INIT;
	const char *argv[] = { "docker", "ps", "--filter", NULL, "--format", "{{.Names}}", NULL };
	int rc;

	strbuf_addf(&filter, "volume=%s", name);
	argv[3] = filter.buf;
	rc = proc_run(argv, NULL, NULL, &out, DBCONN_INSPECT_TIMEOUT_MS, e);
	if (rc) {
		errbuf_prefix(e, "docker volume %s: cannot list the containers using it: ", name);
		goto out;
	}
	strbuf_rtrim(&out);
	if (out.len) {
		/* the first name; docker lists one a line */
		out.buf[strcspn(out.buf, "\n")] = '\0';
		rc = errbuf_set(e, BL_EUSAGE, "docker volume %s is used by running container %s: "
				"stop it first (docker stop %s)", name, out.buf, out.buf);
	}
out:
	strbuf_release(&filter);
	strbuf_release(&out);
	return rc;
}

/* The recovered tree work (the marker inside) becomes newdir, on the
 * volume's file system: renamed when it is on the same one, else copied
 * (owners, modes, times, links, xattrs: cp -a) into tmpdir and renamed
 * when complete, so that a sibling named "*.ballast-new-*" is whole. */
static int deliver(const char *work, const char *tmpdir, const char *newdir, struct errbuf *e)
{
	const char *cp[] = { "cp", "-a", "--", work, tmpdir, NULL };
	long long t0 = time_mono_ms();
	int rc;

	if (rename(work, newdir) == 0)
		return 0;
	if (errno != EXDEV)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot move %s to %s", work, newdir);
	log_info("%s is on another file system than %s: copying the recovered data", work,
		 newdir);
	rc = proc_run(cp, NULL, NULL, NULL, 0, e);
	if (!rc && rename(tmpdir, newdir) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot rename %s to %s", tmpdir, newdir);
	if (rc) {
		struct errbuf ignore = ERRBUF_INIT;

		volume_remove_tree(tmpdir, &ignore);
		return rc;
	}
	log_info("copied into %s (%lld ms)", newdir, time_mono_ms() - t0);
	return 0;
}

int pitr_restore(const struct config *cfg, const struct pitr_opts *o, struct pitr_result *res,
		 struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, parent = STRBUF_INIT, base = STRBUF_INIT,
		      newdir = STRBUF_INIT, olddir = STRBUF_INIT, tmp = STRBUF_INIT,
		      desc = STRBUF_INIT, cmd = STRBUF_INIT, ci = STRBUF_INIT, reason = STRBUF_INIT,
		      top = STRBUF_INIT, work = STRBUF_INIT;
	const char *vol = o->docker_volume;
	struct temp_pg t;
	struct plan p;
	struct stat st;
	char path[4096], scratch[PATH_MAX];
	uid_t uid;
	gid_t gid;
	int rc, staged = 0, dir_exists, scratch_lock = -1;
	long pid;
	long long t_all = 0;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.bindir, 0);
	temp_init(&t);

	rc = walarchive_db(cfg, o->db, &p.spec, e);
	if (rc)
		goto out;
	p.db = json_string_value(json_object_get(p.spec, "name"));

	/* DIR, absolute and without trailing slashes: its siblings are named
	 * after it. A volume's is its Mountpoint, ".../volumes/NAME/_data". */
	if (vol) {
		rc = docker_volume_dir(vol, &dir, e);
		if (!rc)
			rc = docker_volume_unused(vol, e);
		if (rc)
			goto out;
	} else {
		if (o->data_dir[0] != '/' && getcwd(path, sizeof(path)))
			strbuf_addf(&dir, "%s/", path);
		strbuf_addstr(&dir, o->data_dir);
	}
	while (dir.len > 1 && dir.buf[dir.len - 1] == '/')
		strbuf_setlen(&dir, dir.len - 1);
	strbuf_addstr(&res->data_dir, dir.buf);
	split(dir.buf, &parent, &base);
	if (!base.len || !strcmp(base.buf, ".") || !strcmp(base.buf, "..")) {
		rc = errbuf_set(e, BL_EUSAGE, "--data-dir %s: expected a directory path", o->data_dir);
		goto out;
	}
	/* The swap renames DIR itself: a symlink would be swapped, not the
	 * directory it points to. */
	if (lstat(dir.buf, &st) == 0 && S_ISLNK(st.st_mode)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s is a symbolic link: pass the directory it points "
				"to", dir.buf);
		goto out;
	}
	dir_exists = stat(dir.buf, &st) == 0;
	if (dir_exists && !S_ISDIR(st.st_mode)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s is not a directory", dir.buf);
		goto out;
	}
	if (!dir_exists && stat(parent.buf, &st) < 0) {
		rc = errbuf_errno(e, BL_EUSAGE, errno, "%s %s: its parent %s",
				  vol ? "--docker-volume" : "--data-dir", vol ? vol : dir.buf,
				  parent.buf);
		goto out;
	}
	/* In a volume the pid is one of the container's: docker ps decided. */
	if (!vol && dir_exists && live_postmaster(dir.buf, &pid)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s/postmaster.pid names pid %ld, which is running: stop "
				"the server first", dir.buf, pid);
		goto out;
	}
	uid = st.st_uid;
	gid = st.st_gid;
	if (geteuid() == 0 && uid == 0) {
		rc = errbuf_set(e, BL_EUSAGE, "%s is owned by root: refusing to run postgres as root "
				"(chown it to the database's user)", dir_exists ? dir.buf : parent.buf);
		goto out;
	}
	if (geteuid() != 0 && uid != geteuid()) {
		rc = errbuf_set(e, BL_EUSAGE, "%s belongs to uid %u: run the restore as that user "
				"or as root", dir_exists ? dir.buf : parent.buf, (unsigned)uid);
		goto out;
	}

	if (vol) {
		const char *tdir = getenv("TMPDIR"), *want = o->scratch_dir ? o->scratch_dir :
			tdir && *tdir ? tdir : "/var/tmp";

		int err = !realpath(want, scratch) || stat(scratch, &st) < 0 ? errno :
			  !S_ISDIR(st.st_mode) ? ENOTDIR : 0;

		if (err) {
			rc = errbuf_errno(e, BL_EUSAGE, err, "the scratch directory %s (--scratch-dir)",
					  want);
			goto out;
		}
	}
	rc = plan_choose(cfg, o, &p, res, e);
	if (rc)
		goto out;
	strbuf_addf(&newdir, "%s.ballast-new-%s", dir.buf, p.c.id);
	strbuf_addf(&olddir, "%s.ballast-old-%s", dir.buf, p.c.id);
	rc = dir_exists ? refuse_kept(olddir.buf, p.c.id, e) : 0;
	if (rc)
		goto out;
	log_info("database %s: restoring base backup %s (timeline %u, ends at LSN %s) into %s%s%s, "
		 "then recovering to %s", p.db, p.c.id, p.c.meta.timeline,
		 json_string_value(json_object_get(p.c.item, "stop_lsn")), dir.buf,
		 vol ? ", docker volume " : "", vol ? vol : "", target_desc(o, &desc));
	if (o->dry_run)
		goto out;

	interrupt_catch();
	t_all = time_mono_ms();
	rc = clean_siblings(dir.buf, !vol, e);
	if (rc)
		goto out;
	/* again: cleaning may have kept the old data of an interrupted restore
	 * of this same backup under that name */
	rc = dir_exists ? refuse_kept(olddir.buf, p.c.id, e) : 0;
	if (rc)
		goto out;
	strbuf_addf(&cmd, "%s.ballast-tmp-%s", dir.buf, p.c.id);
	if (vol) {
		/* Outside Docker's data root (0710 root:root), which the server,
		 * running as the volume's owner, cannot traverse. */
		strbuf_addf(&tmp, "ballast-restore-%s-%s-", p.project, p.db);
		rc = scratch_make(scratch, tmp.buf, uid, gid, &top, &work, &scratch_lock, e);
	} else if (mkdir(cmd.buf, 0700) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", cmd.buf);
	} else {
		strbuf_addstr(&work, cmd.buf);
	}
	/* The marker first: a sibling "DIR.ballast-new-*" without one is old
	 * data (step 4), never an empty or unfinished new directory. */
	strbuf_reset(&tmp);
	strbuf_addf(&tmp, "%s/" PITR_MARKER, work.buf);
	if (!rc)
		rc = write_file(tmp.buf, "a restore by ballast-backup is writing this directory\n",
				uid, gid, e);
	if (!rc && !vol && rename(cmd.buf, newdir.buf) < 0)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot rename %s to %s", cmd.buf, newdir.buf);
	if (rc) {
		struct errbuf ignore = ERRBUF_INIT;

		if (!vol && work.len)
			volume_remove_tree(cmd.buf, &ignore);
		goto out;
	}
	if (!vol) {
		staged = 1;
		fs_fsync_parent(newdir.buf);
		strbuf_reset(&work);
		strbuf_addstr(&work, newdir.buf);
	}
	rc = stage_copy(&p, work.buf, uid, gid, t_all, e);
	if (rc)
		goto out;

	/* A private socket directory, and a pg_hba that trusts it alone: beside
	 * the data when the socket's path fits in sun_path (so a killed run's
	 * leftovers go with it), else under $TMPDIR. */
	strbuf_reset(&tmp);
	if (vol)
		strbuf_addf(&tmp, "%s/run", top.buf);
	else
		strbuf_addf(&tmp, "%s.ballast-run-%s", dir.buf, p.c.id);
	rc = sock_dir(tmp.buf, uid, gid, &t.sock, e);
	if (!rc)
		rc = recover(&p, o, work.buf, uid, gid, 1, &t, &ci, res, e);
	if (rc)
		goto out;
	temp_stop(&t, SIGINT);
	if (!WIFEXITED(t.c.status) || WEXITSTATUS(t.c.status)) {
		log_reason(t.log.buf, &reason);
		rc = errbuf_set(e, BL_EFAIL, "the temporary postgres on %s did not shut down "
				"cleanly: %s", work.buf, reason.len ? reason.buf : "see its log");
		goto out;
	}
	rc = interrupt_check(e);
	if (!rc && vol) {
		rc = deliver(work.buf, cmd.buf, newdir.buf, e);
		staged = !rc;
		if (!rc)
			rc = interrupt_check(e);
		/* a container started meanwhile would be running on the old data */
		if (!rc)
			rc = docker_volume_unused(vol, e);
	}
	if (rc)
		goto out;

	/* The marker stays through the swap and travels with the restored
	 * data: a sibling without it is always old data (step 4), so a kill
	 * at any moment cannot make a finished restore look like the data it
	 * replaced. It goes once the swap is durable. */
	{
		int fd = open(newdir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}
	if (!dir_exists) {
		if (rename(newdir.buf, dir.buf) < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot rename %s to %s", newdir.buf,
					  dir.buf);
			goto out;
		}
	} else if (renameat2(AT_FDCWD, newdir.buf, AT_FDCWD, dir.buf, RENAME_EXCHANGE) == 0) {
		if (rename(newdir.buf, olddir.buf) < 0)
			log_warn("cannot rename %s to %s: the old data directory stays there",
				 newdir.buf, olddir.buf);
		strbuf_addstr(&res->kept, exists(olddir.buf) ? olddir.buf : newdir.buf);
	} else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
		if (rename(dir.buf, olddir.buf) < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot move %s aside", dir.buf);
			goto out;
		}
		if (rename(newdir.buf, dir.buf) < 0) {
			int err = errno;

			rename(olddir.buf, dir.buf);
			rc = errbuf_errno(e, BL_EFAIL, err, "cannot rename %s to %s", newdir.buf,
					  dir.buf);
			goto out;
		}
		strbuf_addstr(&res->kept, olddir.buf);
	} else {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot swap %s into %s", newdir.buf, dir.buf);
		goto out;
	}
	staged = 0;
	fs_fsync_dir(parent.buf);
	strbuf_reset(&tmp);
	strbuf_addf(&tmp, "%s/" PITR_MARKER, dir.buf);
	if (unlink(tmp.buf) < 0 || fs_fsync_dir(dir.buf))
		log_warn("cannot remove %s: the next restore removes it", tmp.buf);
	if (res->kept.len) {
		const char *undo1[] = { "mv", dir.buf, NULL }, *undo2[] = { "mv", res->kept.buf,
									 dir.buf, NULL };

		shquote_argv(&res->undo, undo1);
		strbuf_addch(&res->undo, ' ');
		strbuf_reset(&tmp);
		strbuf_addf(&tmp, "%s.ballast-undone-%s", dir.buf, p.c.id);
		shquote_word(&res->undo, tmp.buf);
		strbuf_addstr(&res->undo, " && ");
		shquote_argv(&res->undo, undo2);
	}
out:
	if (t.started)
		temp_stop(&t, SIGQUIT);
	if (staged) {
		struct errbuf ignore = ERRBUF_INIT;

		if (volume_remove_tree(newdir.buf, &ignore))
			log_warn("%s", ignore.msg);
	}
	temp_release(&t, rc != 0);
	if (top.len) {
		struct errbuf ignore = ERRBUF_INIT;

		if (volume_remove_tree(top.buf, &ignore))
			log_warn("%s", ignore.msg);
	}
	if (scratch_lock >= 0)
		close(scratch_lock);
	if (rc && e->msg[0] && strncmp(e->msg, "restore", 7))
		errbuf_prefix(e, "point-in-time restore of database %s: ",
			      o->db ? o->db : (p.spec ? json_string_value(json_object_get(p.spec, "name")) :
					       "?"));
	plan_release(&p);
	strbuf_release(&dir);
	strbuf_release(&parent);
	strbuf_release(&base);
	strbuf_release(&newdir);
	strbuf_release(&olddir);
	strbuf_release(&tmp);
	strbuf_release(&desc);
	strbuf_release(&cmd);
	strbuf_release(&ci);
	strbuf_release(&reason);
	strbuf_release(&top);
	strbuf_release(&work);
	return rc;
}


/* Who runs the scratch server: the caller, or as root the owner of the
 * scratch parent when that is not root, else the "postgres" account. */
static int scratch_owner(const char *parent, uid_t *uid, gid_t *gid, struct errbuf *e)
{
	struct stat st;
	struct passwd *pw;

	*uid = geteuid();
	*gid = getegid();
	if (*uid != 0)
		return 0;
	if (stat(parent, &st) == 0 && st.st_uid != 0) {
		*uid = st.st_uid;
		*gid = st.st_gid;
		return 0;
	}
	pw = getpwnam("postgres");
	if (!pw)
		return errbuf_set(e, BL_EUSAGE, "%s is owned by root and there is no \"postgres\" "
				  "user: the scratch server never runs as root (give the scratch "
				  "directory to the database's user)", parent);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* The superuser initdb made (oid 10, whatever its name): the checks read
 * every table, whoever the configured (replication) role is. */
static int superuser_conninfo(const char *sock, const char *ci, struct strbuf *out,
			      struct errbuf *e)
{
	struct strbuf su = STRBUF_INIT;
	PGconn *conn = NULL;
	int rc = pg_connect(ci, NULL, &conn, e);

	if (!rc)
		rc = pg_value(conn, "SELECT rolname FROM pg_roles WHERE oid = 10", &su, e);
	if (!rc) {
		pg_conninfo_add(out, "host", sock);
		strbuf_addstr(out, " port=" TEMP_PORT " dbname=postgres connect_timeout=10");
		pg_conninfo_add(out, "user", su.buf);
	}
	PQfinish(conn);
	strbuf_release(&su);
	return rc;
}

/* pg_last_xact_replay_timestamp(): the newest commit recovery applied. */
static void replay_time(const char *ci, struct pitr_result *res)
{
	struct strbuf v = STRBUF_INIT;
	struct errbuf ignore = ERRBUF_INIT;
	PGconn *conn = NULL;

	res->replay_ms = -1;
	if (!pg_connect(ci, NULL, &conn, &ignore) &&
	    !pg_value(conn, "SELECT coalesce((extract(epoch FROM pg_last_xact_replay_timestamp()) "
		      "* 1000)::bigint::text, '')", &v, &ignore) && v.len)
		res->replay_ms = strtoll(v.buf, NULL, 10);
	PQfinish(conn);
	strbuf_release(&v);
}

int pitr_scratch(const struct config *cfg, const struct pitr_opts *o, const char *parent,
		 pitr_check_fn check, void *ctx, struct pitr_result *res, struct errbuf *e)
{
	struct strbuf top = STRBUF_INIT, data = STRBUF_INIT, tmp = STRBUF_INIT, ci = STRBUF_INIT,
		      sci = STRBUF_INIT;
	struct temp_pg t;
	struct plan p;
	uid_t uid;
	gid_t gid;
	int rc, scratch_lock = -1;
	long long t_all = time_mono_ms(), t1;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.bindir, 0);
	temp_init(&t);
	res->replay_ms = -1;

	rc = walarchive_db(cfg, o->db, &p.spec, e);
	if (rc)
		goto out;
	p.db = json_string_value(json_object_get(p.spec, "name"));
	rc = scratch_owner(parent, &uid, &gid, e);
	if (!rc)
		rc = plan_choose(cfg, o, &p, res, e);
	if (rc)
		goto out;
	res->base_end_ms = p.c.meta.finished_ms;
	interrupt_catch();
	strbuf_addf(&tmp, "ballast-drill-%s-%s-", p.project, p.db);
	rc = scratch_make(parent, tmp.buf, uid, gid, &top, &data, &scratch_lock, e);
	strbuf_reset(&tmp);
	strbuf_addstr(&res->scratch, top.buf);
	if (rc)
		goto out;
	log_info("database %s: drilling base backup %s (timeline %u, ends at LSN %s) in %s",
		 p.db, p.c.id, p.c.meta.timeline,
		 json_string_value(json_object_get(p.c.item, "stop_lsn")), top.buf);
	rc = stage_copy(&p, data.buf, uid, gid, t_all, e);
	res->extract_ms = time_mono_ms() - t_all;
	if (rc)
		goto out;
	strbuf_addf(&tmp, "%s/run", top.buf);
	rc = sock_dir(tmp.buf, uid, gid, &t.sock, e);
	if (!rc)
		rc = recover(&p, o, data.buf, uid, gid, 0, &t, &ci, res, e);
	if (!rc)
		rc = superuser_conninfo(t.sock.buf, ci.buf, &sci, e);
	if (rc)
		goto out;
	replay_time(sci.buf, res);
	t1 = time_mono_ms();
	rc = check(ctx, sci.buf, e);
	res->check_ms = time_mono_ms() - t1;
	if (!rc)
		rc = interrupt_check(e);
out:
	if (rc && p.verdict)
		e->code = rc = BL_EVERIFY;
	temp_release(&t, rc != 0);
	if (top.len) {
		struct errbuf re = ERRBUF_INIT;

		if (volume_remove_tree(top.buf, &re)) {
			log_error("%s", re.msg);
			if (!rc)
				rc = errbuf_set(e, BL_EFAIL, "cannot remove the scratch directory %s: %s",
						top.buf, re.msg);
		} else {
			res->scratch_removed = 1;
		}
	}
	if (scratch_lock >= 0)
		close(scratch_lock);
	plan_release(&p);
	strbuf_release(&top);
	strbuf_release(&data);
	strbuf_release(&tmp);
	strbuf_release(&ci);
	strbuf_release(&sci);
	return rc;
}

int pitr_opt_target(const struct option_spec *opt, const char *name, const char *arg,
		    struct errbuf *e)
{
	struct pitr_target_opt *t = opt->value;

	(void)name;
	(void)e;
	t->n++;
	t->o->target = (enum pitr_target)opt->defval;
	t->o->value = arg;
	return 0;
}

int pitr_self(const struct config *cfg, char self[PATH_MAX], char cfgpath[PATH_MAX],
	      struct errbuf *e)
{
	ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);

	/* n == PATH_MAX - 1 may be a cut path */
	if (n <= 0 || n >= PATH_MAX - 1 || !realpath(cfg->path, cfgpath))
		return errbuf_set(e, BL_EFAIL, "cannot resolve this program's path or %s", cfg->path);
	self[n] = '\0';
	return 0;
}

/* Wait until the archive holds seg (a segment name), polling the
 * repository: the archiver sends a finished segment at once, so this is
 * archive_command's time, not archive_timeout's. */
static int wait_archived(struct repo *r, const char *project, const char *db, const char *seg,
			 long long wait_ms, struct errbuf *e)
{
	long long until = time_mono_ms() + wait_ms;
	json_t *names = NULL;
	int rc;

	for (;;) {
		rc = walarchive_list(r, project, db, &names, e);
		if (rc || json_object_get(names, seg))
			break;
		json_decref(names);
		names = NULL;
		if ((rc = interrupt_check(e)))
			break;
		if (time_mono_ms() >= until) {
			rc = errbuf_set(e, BL_EFAIL, "wal segment %s is not in the archive after %lld s "
					"(%s): check archive_command and pg_stat_archiver on the server",
					seg, wait_ms / 1000, repo_describe(r));
			break;
		}
		usleep(POLL_MS * 1000);
	}
	json_decref(names);
	return rc;
}

int pitr_restore_point(const struct config *cfg, const char *dbname, const char *name,
		       long long wait_ms, json_t **out, struct errbuf *e)
{
	struct strbuf pw = STRBUF_INIT, lsn = STRBUF_INIT, tli = STRBUF_INIT, key = STRBUF_INIT;
	const char *project, *db, *params[1] = { name };
	struct repo *r = NULL;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *spec;
	char when[TIME_UTC_MAX];
	char *text = NULL;
	long long size;
	int rc, there = 0;

	*out = NULL;
	rc = walarchive_db(cfg, dbname, &spec, e);
	if (rc)
		goto out;
	db = json_string_value(json_object_get(spec, "name"));
	if (!config_name_valid(name) || strlen(name) >= 64) {
		rc = errbuf_set(e, BL_EUSAGE, "restore point %s: expected under 64 letters, digits, "
				"'.', '_' or '-'", name);
		goto out;
	}
	rc = backupset_open(cfg, &r, &project, e);
	if (rc)
		goto out;
	restore_point_key(project, db, name, &key);
	rc = repo_exists(r, key.buf, &there, &size, e);
	if (!rc && there)
		rc = errbuf_set(e, BL_EUSAGE, "restore point %s of database %s already exists (%s)",
				name, db, key.buf);
	if (rc)
		goto out;
	if (wait_ms > 0) {
		/* a point no backup can recover to is no snapshot: refuse it
		 * before the server records anything */
		struct pitr_opts po = { .db = db, .target = PITR_LATEST };
		struct choice c;

		memset(&c, 0, sizeof(c));
		rc = choose(r, project, db, &po, &c, e);
		json_decref(c.manifest);
		if (rc) {
			errbuf_prefix(e, "restore point %s: ", name);
			goto out;
		}
	}
	dbdump_password(spec, &pw);
	rc = pg_connect(json_string_value(json_object_get(spec, "conninfo")),
			pw.len ? pw.buf : NULL, &conn, e);
	if (!rc)
		rc = pg_execp(conn, "SELECT l::text, substr(pg_walfile_name(l), 1, 8) "
			      "FROM pg_create_restore_point($1) AS l", 1, params, &res, e);
	if (rc) {
		errbuf_prefix(e, "restore point %s of database %s: ", name, db);
		goto out;
	}
	strbuf_addstr(&lsn, PQgetvalue(res, 0, 0));
	strbuf_addstr(&tli, PQgetvalue(res, 0, 1));
	if (wait_ms > 0) {
		/* Recovery reaches the point only once the segment holding its
		 * record is archived; the server would send it only when the
		 * segment fills or archive_timeout passes, and never if it is
		 * stopped first, as a rollback does. */
		PQclear(res);
		res = NULL;
		rc = pg_execp(conn, "SELECT pg_walfile_name(pg_switch_wal())", 0, NULL, &res, e);
		if (!rc)
			rc = wait_archived(r, project, db, PQgetvalue(res, 0, 0), wait_ms, e);
		if (rc) {
			errbuf_prefix(e, "restore point %s of database %s: ", name, db);
			goto out;
		}
	}
	time_utc_format(time(NULL), when);
	*out = json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", name, "database", db, "lsn", lsn.buf,
			 "timeline", (json_int_t)strtoul(tli.buf, NULL, 16), "time", when);
	text = json_dumps(*out, JSON_SORT_KEYS | JSON_COMPACT);
	rc = repo_put_bytes(r, key.buf, text, strlen(text), e);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
out:
	free(text);
	PQclear(res);
	PQfinish(conn);
	repo_close(r);
	strbuf_release(&pw);
	strbuf_release(&lsn);
	strbuf_release(&tli);
	strbuf_release(&key);
	return rc;
}

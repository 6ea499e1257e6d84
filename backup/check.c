/* ballast-backup check: the preflight an operator runs after editing the
 * configuration. One line per check; exit 0 when all pass, 1 when one
 * fails, 2 when the configuration itself is unusable. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backupset.h"
#include "commands.h"
#include "dbconn.h"
#include "dbdump.h"
#include "lock.h"
#include "log.h"
#include "walstream.h"
#include "pg.h"
#include "proc.h"
#include "progress.h"
#include "repomark.h"
#include "volume.h"

struct checks {
	json_t *list;
	int failed;
	int json;
};

static void report(struct checks *c, const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct checks *c, const char *name, int ok, const char *fmt, ...)
{
	struct strbuf detail = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&detail, fmt, ap);
	va_end(ap);
	if (!ok)
		c->failed = 1;
	json_array_append_new(c->list, json_pack("{s:s, s:s, s:s}", "check", name, "status",
						 ok ? "ok" : "failed", "detail", detail.buf));
	if (!c->json) {
		struct strbuf line = STRBUF_INIT;

		strbuf_addf(&line, "%-6s %-22s %s", ok ? "ok" : "FAILED", name, detail.buf);
		log_redact(&line);
		log_one_line(&line);
		printf("%s\n", line.buf);
		strbuf_release(&line);
	}
	strbuf_release(&detail);
}

static void check_database(struct checks *c, json_t *db)
{
	const char *name = json_string_value(json_object_get(db, "name"));
	const char *container = dbconn_container(db);
	struct strbuf pw = STRBUF_INIT, server = STRBUF_INIT, where = STRBUF_INIT,
		      tool = STRBUF_INIT, label = STRBUF_INIT, ci = STRBUF_INIT,
		      addr = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *env[2] = { NULL, NULL };
	struct strbuf envpw = STRBUF_INIT;
	PGconn *conn = NULL;
	int srv_major, tool_major;
	const char *digits;

	strbuf_addf(&label, "database %s", name);
	dbdump_password(db, &pw);
	if (pw.len) {
		strbuf_addf(&envpw, "PGPASSWORD=%s", pw.buf);
		env[0] = envpw.buf;
	}
	if (dbconn_resolve(db, NULL, &ci, &addr, &e)) {
		report(c, label.buf, 0, "%s", e.msg);
		goto out;
	}
	if (pg_connect(ci.buf, pw.len ? pw.buf : NULL, &conn, &e) ||
	    pg_value(conn, "SHOW server_version", &server, &e)) {
		if (container)
			report(c, label.buf, 0, "container %s at %s: %s", container, addr.buf, e.msg);
		else
			report(c, label.buf, 0, "%s", e.msg);
		goto out;
	}
	/* the server as the conninfo names it, and where it was reached */
	pg_describe(conn, &where);
	if (container)
		strbuf_addf(&where, " in container %s at %s", container, addr.buf);
	if (dbdump_tool_version(db, env, &tool, &e)) {
		report(c, label.buf, 0, "%s reachable (server %s), but the dump command failed: %s",
		       where.buf, server.buf, e.msg);
		goto out;
	}
	/* pg_dump refuses a server newer than itself (major versions) */
	srv_major = atoi(server.buf);
	digits = tool.buf + strcspn(tool.buf, "0123456789");
	tool_major = atoi(digits);
	if (tool_major && srv_major > tool_major) {
		report(c, label.buf, 0, "%s runs PostgreSQL %s, newer than %s: pg_dump cannot "
		       "dump it", where.buf, server.buf, tool.buf);
		goto out;
	}
	report(c, label.buf, 1, "%s, server %s, %s", where.buf, server.buf, tool.buf);
out:
	PQfinish(conn);
	strbuf_release(&pw);
	strbuf_release(&envpw);
	strbuf_release(&server);
	strbuf_release(&where);
	strbuf_release(&tool);
	strbuf_release(&label);
	strbuf_release(&ci);
	strbuf_release(&addr);
}

static void check_volume(struct checks *c, const struct config *cfg, json_t *vol)
{
	const char *name = json_string_value(json_object_get(vol, "name"));
	struct strbuf path = STRBUF_INIT, label = STRBUF_INIT;
	DIR *d;

	strbuf_addf(&label, "volume %s", name);
	config_path(cfg, json_string_value(json_object_get(vol, "path")), &path);
	d = opendir(path.buf);
	if (!d)
		report(c, label.buf, 0, "%s: cannot read the directory: %s", path.buf,
		       strerror(errno));
	else
		report(c, label.buf, 1, "%s readable", path.buf);
	if (d)
		closedir(d);
	strbuf_release(&path);
	strbuf_release(&label);
}

/* Reachable (list), writable (a small object put and deleted), and for a
 * local repository the free space against the last good backup's size. */
static void check_repository(struct checks *c, const struct config *cfg)
{
	struct errbuf e = ERRBUF_INIT;
	struct repo *r = NULL;
	const char *project;
	json_t *list = NULL, *ent;
	struct strbuf key = STRBUF_INIT;
	long long last = -1;
	char id[REPOMARK_ID_LEN + 1];
	size_t i;

	if (backupset_open(cfg, &r, &project, &e) || backupset_list(r, project, &list, &e)) {
		report(c, "repository", 0, "%s", e.msg);
		goto out;
	}
	strbuf_addf(&key, "%s/locks/check-%ld", project, (long)getpid());
	if (repo_put_bytes(r, key.buf, "ok\n", 3, &e) || repo_delete(r, key.buf, &e)) {
		report(c, "repository", 0, "%s: not writable: %s", repo_describe(r), e.msg);
		goto out;
	}
	json_array_foreach(list, i, ent)
		if (!strcmp(json_string_value(json_object_get(ent, "status")), "good"))
			last = json_integer_value(json_object_get(ent, "size"));
	if (repomark_read(r, project, id, &e))
		id[0] = '\0';
	report(c, "repository", 1, "%s: %s%s%swritable, %zu backup%s", repo_describe(r),
	       id[0] ? "id " : "", id, id[0] ? ", " : "", json_array_size(list),
	       json_array_size(list) == 1 ? "" : "s");
	if (!strcmp(config_str(cfg, "repository.type", "local"), "local")) {
		struct strbuf path = STRBUF_INIT;
		struct statvfs sv;
		char have[32], need[32];

		config_path(cfg, config_str(cfg, "repository.path", ""), &path);
		if (statvfs(path.buf, &sv)) {
			report(c, "free space", 0, "%s: %s", path.buf, strerror(errno));
		} else {
			long long free_b = (long long)sv.f_bavail * (long long)sv.f_frsize;

			progress_bytes(free_b, have, sizeof(have));
			progress_bytes(last > 0 ? last : 0, need, sizeof(need));
			if (last > 0 && free_b < last)
				report(c, "free space", 0, "%s: %s free, the last backup took %s",
				       path.buf, have, need);
			else
				report(c, "free space", 1, "%s: %s free%s%s", path.buf, have,
				       last > 0 ? ", the last backup took " : "",
				       last > 0 ? need : "");
		}
		strbuf_release(&path);
	}
out:
	json_decref(list);
	repo_close(r);
	strbuf_release(&key);
}

/* A physical database streamed by wal-stream: its slot keeps the server's
 * WAL until the streamer has it, so a lag over max_slot_lag is a disk
 * filling up on the server. */
static void check_wal_stream(struct checks *c, const struct config *cfg, json_t *db)
{
	const char *name = json_string_value(json_object_get(db, "name"));
	struct strbuf label = STRBUF_INIT, slot = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	long long lag = 0, max = 0;

	strbuf_addf(&label, "wal-stream %s", name);
	if (walstream_lag(cfg, name, &slot, &lag, &max, &e))
		report(c, label.buf, 0, "%s", e.msg);
	else
		report(c, label.buf, lag <= max, "slot %s holds %lld MiB of WAL on the server "
		       "(max_slot_lag %lld MiB)%s", slot.buf, lag >> 20, max >> 20,
		       lag <= max ? "" : ": is wal-stream running and committing?");
	strbuf_release(&label);
	strbuf_release(&slot);
}

static void check_lock(struct checks *c, const struct config *cfg)
{
	struct strbuf dir = STRBUF_INIT, path = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct lock *l = NULL;
	const char *project = config_str(cfg, "project", "");
	int rc;

	if (lock_state_dir(cfg, &dir, &e)) {
		report(c, "lock", 0, "%s", e.msg);
		goto out;
	}
	strbuf_addf(&path, "%s/%s.backup.lock", dir.buf, project);
	if (access(path.buf, F_OK)) {
		report(c, "lock", 1, "%s: free", path.buf);
		goto out;
	}
	rc = lock_acquire(path.buf, "check", 0, &l, &e);
	lock_release(l);
	if (rc == BL_ELOCKED)
		report(c, "lock", 1, "a backup or prune is running now: %s", e.msg);
	else if (rc)
		report(c, "lock", 0, "%s", e.msg);
	else
		report(c, "lock", 1, "%s: free", path.buf);
out:
	strbuf_release(&dir);
	strbuf_release(&path);
}

int cmd_check(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	const struct option_spec opts[] = { OPT_END() };
	struct parseopt_rest rest;
	struct checks c = { NULL, 0, ctx->json };
	struct errbuf ce = ERRBUF_INIT;
	json_t *v;
	size_t i;
	int rc;

	/* an empty table still gives "unknown option --x" */
	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	c.list = json_array();
	rc = cli_config(ctx, e);
	if (rc)
		goto out;
	report(&c, "config", 1, "%s", ctx->cfg->path);
	if (config_check_env(ctx->cfg, NULL, &ce)) {
		report(&c, "secrets", 0, "%s", ce.msg);
		rc = BL_EUSAGE;
	} else {
		report(&c, "secrets", 1, "every *_env variable is set");
	}
	json_array_foreach(config_get(ctx->cfg, "databases"), i, v) {
		check_database(&c, v);
		if (json_object_get(v, "wal_stream"))
			check_wal_stream(&c, ctx->cfg, v);
	}
	json_array_foreach(config_get(ctx->cfg, "volumes"), i, v)
		check_volume(&c, ctx->cfg, v);
	check_repository(&c, ctx->cfg);
	check_lock(&c, ctx->cfg);
	if (!rc && c.failed)
		rc = BL_EFAIL;
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:s, s:O}", "event", "result", "status",
					rc ? "failed" : "ok", "checks", c.list);

		log_json_result(res);
		json_decref(res);
	}
	/* the lines above are the report; main prints one summary line */
	if (rc == BL_EUSAGE)
		errbuf_set(e, rc, "%s", ce.msg);
	else if (rc)
		errbuf_set(e, rc, "check failed: see the FAILED lines");
out:
	json_decref(c.list);
	return rc;
}

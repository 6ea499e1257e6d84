#include "tbackup.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "pg.h"

PGconn *db_connect(const char *db)
{
	char *ci = tpg_conninfo(db);
	PGconn *c = PQconnectdb(ci);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", ci, PQerrorMessage(c));
	free(ci);
	return c;
}

void sql(const char *db, const char *fmt, ...)
{
	PGconn *c = db_connect(db);
	char q[4096];
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	r = PQexec(c, q);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", q, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

long long sql_int(const char *db, const char *q)
{
	PGconn *c = db_connect(db);
	PGresult *r = PQexec(c, q);
	long long v;

	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQerrorMessage(c));
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

void sh(const char *cmd)
{
	const char *argv[] = { "sh", "-c", cmd, NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	int st = trun(argv, NULL, &out, &err);

	ck_assert_msg(st == 0, "%s: exit %d: %s", cmd, st, err.buf);
	strbuf_release(&out);
	strbuf_release(&err);
}

void load_pagila(const char *db)
{
	char *ci;
	char cmd[4096];

	sql("postgres", "DROP DATABASE IF EXISTS %s", db);
	sql("postgres", "CREATE DATABASE %s", db);
	ci = tpg_conninfo(db);
	snprintf(cmd, sizeof(cmd),
		 "psql -q -X -v ON_ERROR_STOP=1 -d \"%s\" -f %s/tests/data/pagila/pagila-schema.sql "
		 ">/dev/null && zstd -dc %s/tests/data/pagila/pagila-data.sql.zst | "
		 "psql -q -X -v ON_ERROR_STOP=1 -d \"%s\" >/dev/null",
		 ci, BALLAST_SOURCE_DIR, BALLAST_SOURCE_DIR, ci);
	sh(cmd);
	free(ci);
}

void proj_write_cfg(const struct proj *p, const char *path, const char *dbs)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"compression\": { \"level\": 3, \"threads\": 2 },\n"
		 "  \"databases\": %s }\n", p->dir, p->repo, dbs);
	ck_assert_int_eq(twrite_file(path, text), 0);
}

void proj_init(struct proj *p, const char *tag, const char *dbs)
{
	p->dir = ttmp_dir(tag);
	ck_assert_ptr_nonnull(p->dir);
	snprintf(p->cfg, sizeof(p->cfg), "%s/ballast.json", p->dir);
	snprintf(p->repo, sizeof(p->repo), "%s/repo", p->dir);
	proj_write_cfg(p, p->cfg, dbs);
	tinit_repo(p->cfg);
}

void proj_done(struct proj *p)
{
	ttmp_rm(p->dir);
	free(p->dir);
}

int bb_env(const struct proj *p, const char *const *env, struct strbuf *out,
		  struct strbuf *err, ...)
{
	const char *argv[32];
	struct strbuf bin = STRBUF_INIT;
	va_list ap;
	int n = 0, st;
	const char *a;

	argv[n++] = tbin("ballast-backup", &bin);
	argv[n++] = "--config";
	argv[n++] = p->cfg;
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	strbuf_reset(out);
	strbuf_reset(err);
	st = trun(argv, env, out, err);
	strbuf_release(&bin);
	return st;
}

json_t *last_json(const struct strbuf *out)
{
	const char *end = out->buf + out->len, *start;
	json_t *o;

	while (end > out->buf && end[-1] == '\n')
		end--;
	start = end;
	while (start > out->buf && start[-1] != '\n')
		start--;
	o = json_loadb(start, (size_t)(end - start), 0, NULL);
	ck_assert_msg(o != NULL, "not JSON: %.*s", (int)(end - start), start);
	return o;
}

json_t *list_backups(const struct proj *p)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *res, *b;

	ck_assert_msg(bb(p, &out, &err, "list", "--json") == 0, "list: %s", err.buf);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "event")), "result");
	b = json_incref(json_object_get(res, "backups"));
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	ck_assert(json_is_array(b));
	return b;
}

int count_status(const struct proj *p, const char *status)
{
	json_t *b = list_backups(p), *ent;
	size_t i;
	int n = 0;

	json_array_foreach(b, i, ent)
		n += !strcmp(json_string_value(json_object_get(ent, "status")), status);
	json_decref(b);
	return n;
}

char *backup_ok(const struct proj *p, const char *extra)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *res;
	char *id;
	int st = extra ? bb(p, &out, &err, "run", "--json", extra) :
		 bb(p, &out, &err, "run", "--json");

	ck_assert_msg(st == 0, "run exited %d: %s", st, err.buf);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok");
	id = strdup(json_string_value(json_object_get(res, "backup_id")));
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	return id;
}

void count_files(const char *dir, const char *needle, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[2048];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			count_files(path, needle, n);
		else if (strstr(de->d_name, needle))
			(*n)++;
	}
	closedir(d);
}

int tmp_objects(const struct proj *p)
{
	int n = 0;

	count_files(p->repo, ".tmp-", &n);
	return n;
}

void assert_same_rows(const char *a, const char *b)
{
	PGconn *ca = db_connect(a), *cb = db_connect(b);
	PGresult *tabs = PQexec(ca, "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) "
				"FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
				"'information_schema') ORDER BY 1");
	int i;

	ck_assert_int_eq(PQresultStatus(tabs), PGRES_TUPLES_OK);
	ck_assert_int_gt(PQntuples(tabs), 0);
	for (i = 0; i < PQntuples(tabs); i++) {
		char q[1024];
		PGresult *ra, *rb;

		snprintf(q, sizeof(q), "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, "
			 "E'\\n' ORDER BY t::text)), '') FROM %s t", PQgetvalue(tabs, i, 0));
		ra = PQexec(ca, q);
		rb = PQexec(cb, q);
		ck_assert_msg(PQresultStatus(ra) == PGRES_TUPLES_OK, "%s on %s: %s", q, a,
			      PQerrorMessage(ca));
		ck_assert_msg(PQresultStatus(rb) == PGRES_TUPLES_OK, "%s on %s: %s", q, b,
			      PQerrorMessage(cb));
		ck_assert_msg(!strcmp(PQgetvalue(ra, 0, 0), PQgetvalue(rb, 0, 0)),
			      "table %s differs: %s vs %s", PQgetvalue(tabs, i, 0),
			      PQgetvalue(ra, 0, 0), PQgetvalue(rb, 0, 0));
		PQclear(ra);
		PQclear(rb);
	}
	PQclear(tabs);
	PQfinish(ca);
	PQfinish(cb);
}

void schema_of(const char *db, struct strbuf *out)
{
	char *ci = tpg_conninfo(db);

	tpg_schema_dump(ci, NULL, out);
	free(ci);
}

void write_script(const char *path, const char *body)
{
	ck_assert_int_eq(twrite_file(path, body), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

/* Start ballast-backup in the background, stdout/stderr into files. */
void bb_start(struct child *c, const char **argv, const char *outfile,
		     const char *const *env)
{
	struct errbuf e = ERRBUF_INIT;

	c->argv = argv;
	c->env = env;
	c->in_mode = PROC_NULL;
	c->out_mode = PROC_FD;
	c->err_mode = PROC_FD;
	c->out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(c->out, 0);
	c->err = fcntl(c->out, F_DUPFD_CLOEXEC, 3);
	ck_assert_msg(proc_start(c, &e) == 0, "%s", e.msg);
	/* the child has its copies; proc_finish must only wait */
	close(c->out);
	close(c->err);
	c->out = c->err = -1;
}

int wait_for_file(const char *path, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(50000);
	}
	return -1;
}


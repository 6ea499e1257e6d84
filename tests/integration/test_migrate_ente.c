// services: pg
/* ballast-migrate on a real history nobody here wrote: Ente's 124
 * golang-migrate versions (tests/data/ente-migrations, AGPL, see its
 * NOTICE), as they are, with the project's repairs/ applied over a copy
 * where a down file fails under plain psql too. Up to 124 with schemas
 * taken on the way; then, from the stored down SQL alone (no directory),
 * down to 93, 62, 31 and 0, each compared with what psql gets from the
 * same down files (a difference from the schema taken on the way up is
 * the history's, not ballast's, when psql sees it too); up again equal to
 * the first time. */
#include <dirent.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "pg.h"
#include "tpg.h"
#include "tsupport.h"

#define ENTE_TOP 124

static const char *const ente_src = BALLAST_SOURCE_DIR "/tests/data/ente-migrations";

/* Copy every file of src into dst (flat). */
static void copy_files(const char *src, const char *dst)
{
	struct strbuf in = STRBUF_INIT, path = STRBUF_INIT;
	DIR *d = opendir(src);
	struct dirent *de;

	ck_assert_msg(d != NULL, "cannot open %s", src);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", src, de->d_name);
		strbuf_reset(&in);
		ck_assert_int_eq(tread_file(path.buf, &in), 0);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", dst, de->d_name);
		ck_assert_int_eq(twrite_file(path.buf, in.buf), 0);
	}
	closedir(d);
	strbuf_release(&in);
	strbuf_release(&path);
}

/* The file of version v and kind ("up"/"down") in dir; caller frees. */
static char *file_of(const char *dir, int v, const char *kind)
{
	char prefix[32], suffix[16];
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;

	ck_assert_ptr_nonnull(d);
	snprintf(prefix, sizeof(prefix), "%d_", v);
	snprintf(suffix, sizeof(suffix), ".%s.sql", kind);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), sl = strlen(suffix);

		if (!strncmp(de->d_name, prefix, strlen(prefix)) && n > sl &&
		    !strcmp(de->d_name + n - sl, suffix)) {
			struct strbuf p = STRBUF_INIT;

			strbuf_addf(&p, "%s/%s", dir, de->d_name);
			found = strbuf_detach(&p, NULL);
			break;
		}
	}
	closedir(d);
	ck_assert_msg(found != NULL, "no %s file for %d in %s", kind, v, dir);
	return found;
}

static int mig(const char *conninfo, const char *dir, struct strbuf *err, ...)
{
	const char *argv[16];
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT;
	va_list ap;
	const char *a;
	int n = 0, rc;

	argv[n++] = tbin("ballast-migrate", &bin);
	argv[n++] = "--database";
	argv[n++] = conninfo;
	argv[n++] = "--dir";
	argv[n++] = dir;
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && n < 15)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	strbuf_reset(err);
	rc = trun(argv, NULL, &out, err);
	strbuf_release(&bin);
	strbuf_release(&out);
	return rc;
}

/* psql the files of versions from..to (step +1 or -1) of kind, in one
 * session, stopping at the first error, as an operator would by hand. */
static void psql_files(const char *work, const char *conninfo, const char *dir, int from, int to,
		       const char *kind)
{
	char *bindir = tsvc_read("pg", "bindir");
	struct strbuf script = STRBUF_INIT, spath = STRBUF_INIT, bin = STRBUF_INIT,
		      out = STRBUF_INIT, err = STRBUF_INIT;
	int step = from <= to ? 1 : -1;

	for (int v = from; v != to + step; v += step) {
		char *f = file_of(dir, v, kind);

		strbuf_addf(&script, "\\i %s\n", f);
		free(f);
	}
	strbuf_addf(&spath, "%s/psql-%s-%d-%d.sql", work, kind, from, to);
	ck_assert_int_eq(twrite_file(spath.buf, script.buf), 0);
	strbuf_addf(&bin, "%s/psql", bindir);
	{
		const char *argv[] = { bin.buf, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
				       "-f", spath.buf, NULL };
		const char *env[] = { "PGOPTIONS=-c client_min_messages=warning", NULL };

		ck_assert_msg(trun(argv, env, &out, &err) == 0, "psql %s %d..%d: %s", kind, from, to,
			      err.buf);
	}
	free(bindir);
	strbuf_release(&script);
	strbuf_release(&spath);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
}

/* The schema without the history table (only ballast's database has it). */
static void schema_dump(const char *conninfo, struct strbuf *out)
{
	tpg_schema_dump(conninfo, "public.ballast_migrations", out);
}

/* Lines of a that b lacks, counted (for the report, not asserted). */
static size_t lines_missing(const char *a, const char *b)
{
	size_t n = 0;

	for (const char *p = a; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);

		if (len && !strstr(b, line))
			n++;
		free(line);
		p += len + (nl != NULL);
	}
	return n;
}

static long current_version(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	long v;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	r = PQexec(c, "SELECT coalesce(max(version), 0), bool_or(dirty) FROM ballast_migrations");
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	ck_assert_msg(strcmp(PQgetvalue(r, 0, 1), "t"), "the database is dirty");
	v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

START_TEST(test_ente_history)
{
	static const int marks[] = { 93, 62, 31, 0 };
	struct strbuf mdir = STRBUF_INIT, src = STRBUF_INIT, err = STRBUF_INIT, none = STRBUF_INIT;
	struct strbuf up_dump[4], top = STRBUF_INIT, b = STRBUF_INIT, p = STRBUF_INIT;
	char *work = ttmp_dir("ente");
	char bname[64], pname[64], vs[32];
	char *bci, *pci;
	int prev;

	ck_assert_ptr_nonnull(work);
	/* the folder as it is, with repairs/ over a copy (see the NOTICE) */
	strbuf_addf(&mdir, "%s/migrations", work);
	ck_assert_int_eq(mkdir(mdir.buf, 0755), 0);
	strbuf_addf(&src, "%s/migrations", ente_src);
	copy_files(src.buf, mdir.buf);
	strbuf_reset(&src);
	strbuf_addf(&src, "%s/repairs", ente_src);
	copy_files(src.buf, mdir.buf);
	strbuf_addf(&none, "%s/no-migrations-here", work);
	snprintf(bname, sizeof(bname), "ente_b_%d", (int)getpid());
	snprintf(pname, sizeof(pname), "ente_p_%d", (int)getpid());
	bci = tpg_fresh_db(bname);
	pci = tpg_fresh_db(pname);

	/* up in stages, the schema taken at each mark on the way */
	for (int i = 0; i < 4; i++)
		strbuf_init(&up_dump[i], 0);
	schema_dump(bci, &up_dump[3]);
	for (int i = 2; i >= 0; i--) {
		snprintf(vs, sizeof(vs), "%d", marks[i]);
		ck_assert_msg(mig(bci, mdir.buf, &err, "-q", "up", "--to", vs, NULL) == 0,
			      "up --to %s: %s", vs, err.buf);
		ck_assert_int_eq(current_version(bci), marks[i]);
		schema_dump(bci, &up_dump[i]);
	}
	ck_assert_msg(mig(bci, mdir.buf, &err, "up", NULL) == 0, "up: %s", err.buf);
	ck_assert_int_eq(current_version(bci), ENTE_TOP);
	/* 95's own BEGIN is named with file and line; its single CREATE INDEX
	 * CONCURRENTLY runs outside a transaction as golang-migrate runs it */
	ck_assert_msg(strstr(err.buf, "95_public_collection_join_album.up.sql:1: BEGIN inside the file"),
		      "%s", err.buf);
	schema_dump(bci, &top);

	/* psql with the same files reaches the same schema */
	psql_files(work, pci, mdir.buf, 1, ENTE_TOP, "up");
	schema_dump(pci, &p);
	ck_assert_msg(!strcmp(top.buf, p.buf), "schema at %d differs between ballast and psql",
		      ENTE_TOP);

	/* down from the stored SQL alone: the directory does not exist */
	prev = ENTE_TOP;
	for (int i = 0; i < 4; i++) {
		snprintf(vs, sizeof(vs), "%d", marks[i]);
		ck_assert_msg(mig(bci, none.buf, &err, "-q", "down", "--to", vs, NULL) == 0,
			      "down --to %s: %s", vs, err.buf);
		ck_assert_int_eq(current_version(bci), marks[i]);
		psql_files(work, pci, mdir.buf, prev, marks[i] + 1, "down");
		prev = marks[i];
		schema_dump(bci, &b);
		schema_dump(pci, &p);
		ck_assert_msg(!strcmp(b.buf, p.buf),
			      "down to %d: ballast's schema differs from psql's with the same down files",
			      marks[i]);
		/* Where the history's downs are not exact inverses, psql gets the
		 * same: reported, not ballast's fault. */
		if (strcmp(b.buf, up_dump[i].buf))
			fprintf(stderr, "ente: down to %d: %zu schema lines differ from the way up "
					"(the history's own downs; psql gets the same)\n",
				marks[i], lines_missing(b.buf, up_dump[i].buf) +
						  lines_missing(up_dump[i].buf, b.buf));
	}
	/* up again from the files: the first schema back */
	ck_assert_msg(mig(bci, mdir.buf, &err, "up", NULL) == 0, "up again: %s", err.buf);
	ck_assert_int_eq(current_version(bci), ENTE_TOP);
	schema_dump(bci, &b);
	ck_assert_msg(!strcmp(b.buf, top.buf), "up again: the schema differs from the first up");

	for (int i = 0; i < 4; i++)
		strbuf_release(&up_dump[i]);
	strbuf_release(&mdir);
	strbuf_release(&src);
	strbuf_release(&err);
	strbuf_release(&none);
	strbuf_release(&top);
	strbuf_release(&b);
	strbuf_release(&p);
	free(bci);
	free(pci);
	ttmp_rm(work);
	free(work);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrate_ente");
	TCase *tc = tcase_create("ente");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_ente_history);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}

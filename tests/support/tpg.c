#include "tpg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "pg.h"
#include "tsupport.h"

char *tpg_conninfo(const char *db)
{
	char *base = tsvc_read("pg", "conninfo");
	struct strbuf sb = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(pg_conninfo_with_db(base, db, &sb, &e), 0);
	free(base);
	return strbuf_detach(&sb, NULL);
}

static void admin_sql(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

char *tpg_fresh_db(const char *name)
{
	char *admin = tsvc_read("pg", "conninfo");
	PGconn *c;
	char sql[256];

	ck_assert_ptr_nonnull(admin);
	c = PQconnectdb(admin);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	admin_sql(c, "SET client_min_messages = warning");
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	admin_sql(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	admin_sql(c, sql);
	PQfinish(c);
	free(admin);
	return tpg_conninfo(name);
}

void tpg_schema_dump(const char *conninfo, const char *exclude, struct strbuf *out)
{
	char *bindir = tsvc_read("pg", "bindir");
	struct strbuf bin = STRBUF_INIT, raw = STRBUF_INIT, err = STRBUF_INIT, ex = STRBUF_INIT;
	const char *argv[8];
	int n = 0;

	ck_assert_ptr_nonnull(bindir);
	strbuf_addf(&bin, "%s/pg_dump", bindir);
	argv[n++] = bin.buf;
	argv[n++] = "--schema-only";
	argv[n++] = "--no-owner";
	if (exclude) {
		strbuf_addf(&ex, "--exclude-table=%s", exclude);
		argv[n++] = ex.buf;
	}
	argv[n++] = "-d";
	argv[n++] = conninfo;
	argv[n] = NULL;
	ck_assert_msg(trun(argv, NULL, &raw, &err) == 0, "pg_dump: %s", err.buf);
	strbuf_reset(out);
	for (const char *p = raw.buf; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (strncmp(p, "\\restrict", 9) && strncmp(p, "\\unrestrict", 11))
			strbuf_add(out, p, len);
		p += len;
	}
	free(bindir);
	strbuf_release(&bin);
	strbuf_release(&raw);
	strbuf_release(&err);
	strbuf_release(&ex);
}

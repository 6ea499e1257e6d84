#include "pg.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *effective_conninfo(const char *conninfo)
{
	const char *url = getenv("DATABASE_URL");

	if (conninfo && *conninfo)
		return conninfo;
	if (url && *url)
		return url;
	return "";
}

void pg_describe_conninfo(const char *conninfo, struct strbuf *out)
{
	const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
	PQconninfoOption *opts;
	char *err = NULL;

	strbuf_reset(out);
	opts = PQconninfoParse(effective_conninfo(conninfo), &err);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val)
			continue;
		if (!strcmp(o->keyword, "user"))
			user = o->val;
		else if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
	}
	if (!user)
		user = getenv("PGUSER");
	if (!host)
		host = getenv("PGHOST");
	if (!port)
		port = getenv("PGPORT");
	if (!db)
		db = getenv("PGDATABASE");
	strbuf_addf(out, "%s%s%s:%s/%s", user ? user : "", user ? "@" : "",
		    host ? host : "localhost", port ? port : "5432", db ? db : (user ? user : ""));
	PQconninfoFree(opts);
	PQfreemem(err);
}

void pg_describe(PGconn *conn, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s@%s:%s/%s", PQuser(conn), PQhost(conn), PQport(conn), PQdb(conn));
}

int pg_connect(const char *conninfo, const char *password, PGconn **out, struct errbuf *e)
{
	const char *keys[] = { "dbname", "password", "fallback_application_name", NULL };
	const char *vals[] = { effective_conninfo(conninfo), password, "ballast", NULL };
	struct strbuf who = STRBUF_INIT;
	char *err = NULL;
	PQconninfoOption *opts;
	PGconn *c;
	int rc = 0;

	*out = NULL;
	opts = PQconninfoParse(vals[0], &err);
	if (!opts) {
		rc = errbuf_set(e, BL_EUSAGE, "pg: bad connection string: %s",
				err ? err : "cannot parse");
		PQfreemem(err);
		return rc;
	}
	PQconninfoFree(opts);
	if (!password || !*password) {
		keys[1] = "fallback_application_name";
		vals[1] = "ballast";
		keys[2] = NULL;
		vals[2] = NULL;
	}
	/* expand_dbname=1: the dbname value may itself be a conninfo or URL. */
	c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		return errbuf_set(e, BL_EFAIL, "pg: out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		struct strbuf msg = STRBUF_INIT;

		pg_describe_conninfo(conninfo, &who);
		strbuf_addstr(&msg, PQerrorMessage(c));
		strbuf_rtrim(&msg);
		for (size_t i = 0; i < msg.len; i++)
			if (msg.buf[i] == '\n')
				msg.buf[i] = ' ';
		rc = errbuf_set(e, BL_EFAIL, "cannot connect to %s: %s", who.buf, msg.buf);
		strbuf_release(&msg);
		PQfinish(c);
		goto out;
	}
	*out = c;
out:
	strbuf_release(&who);
	return rc;
}

static int check_result(PGconn *conn, PGresult *r, const char *sql, PGresult **res,
			struct errbuf *e)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return 0;
	}
	{
		struct strbuf msg = STRBUF_INIT;
		char head[80];
		int rc;

		strbuf_addstr(&msg, r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
		strbuf_rtrim(&msg);
		for (size_t i = 0; i < msg.len; i++)
			if (msg.buf[i] == '\n')
				msg.buf[i] = ' ';
		snprintf(head, sizeof(head), "%.60s", sql);
		for (char *p = head; *p; p++)
			if (*p == '\n')
				*p = ' ';
		rc = errbuf_set(e, BL_EFAIL, "query failed (%s%s): %s", head,
				strlen(sql) > 60 ? "..." : "", msg.buf);
		strbuf_release(&msg);
		PQclear(r);
		if (res)
			*res = NULL;
		return rc;
	}
}

int pg_exec(PGconn *conn, const char *sql, PGresult **res, struct errbuf *e)
{
	return check_result(conn, PQexec(conn, sql), sql, res, e);
}

int pg_execf(PGconn *conn, PGresult **res, struct errbuf *e, const char *fmt, ...)
{
	struct strbuf sql = STRBUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	strbuf_vaddf(&sql, fmt, ap);
	va_end(ap);
	rc = pg_exec(conn, sql.buf, res, e);
	strbuf_release(&sql);
	return rc;
}

int pg_execp(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **res,
	     struct errbuf *e)
{
	return check_result(conn, PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0), sql,
			    res, e);
}

int pg_value(PGconn *conn, const char *sql, struct strbuf *out, struct errbuf *e)
{
	PGresult *r;
	int rc = pg_exec(conn, sql, &r, e);

	strbuf_reset(out);
	if (rc)
		return rc;
	if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
		strbuf_addstr(out, PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int pg_quote_ident(PGconn *conn, const char *s, struct strbuf *out)
{
	char *q = PQescapeIdentifier(conn, s, strlen(s));

	strbuf_reset(out);
	if (!q)
		return -1;
	strbuf_addstr(out, q);
	PQfreemem(q);
	return 0;
}

int pg_quote_literal(PGconn *conn, const char *s, struct strbuf *out)
{
	char *q = PQescapeLiteral(conn, s, strlen(s));

	strbuf_reset(out);
	if (!q)
		return -1;
	strbuf_addstr(out, q);
	PQfreemem(q);
	return 0;
}

int pg_conninfo_with_db(const char *conninfo, const char *dbname, struct strbuf *out,
			struct errbuf *e)
{
	PQconninfoOption *opts;
	char *err = NULL;
	int rc;

	strbuf_reset(out);
	opts = PQconninfoParse(effective_conninfo(conninfo), &err);
	if (!opts) {
		rc = errbuf_set(e, BL_EUSAGE, "pg: bad connection string: %s",
				err ? err : "cannot parse");
		PQfreemem(err);
		return rc;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val;

		if (!strcmp(o->keyword, "dbname"))
			v = dbname;
		if (!v)
			continue;
		strbuf_addf(out, "%s%s='", out->len ? " " : "", o->keyword);
		for (const char *p = v; *p; p++) {
			if (*p == '\'' || *p == '\\')
				strbuf_addch(out, '\\');
			strbuf_addch(out, *p);
		}
		strbuf_addch(out, '\'');
	}
	PQconninfoFree(opts);
	return 0;
}

#include "pg.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"
#include "timeutil.h"

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

/* Server notices reach the debug log (redacted, one line), not stderr. */
static void log_notice(void *arg, const char *msg)
{
	struct strbuf sb = STRBUF_INIT;

	(void)arg;
	strbuf_addstr(&sb, msg);
	strbuf_rtrim(&sb);
	log_debug("server: %s", sb.buf);
	strbuf_release(&sb);
}

/* The conninfo's connect_timeout in ms (0: none): PQconnectPoll leaves it
 * to its caller. */
static long long connect_timeout_ms(PGconn *c)
{
	PQconninfoOption *opts = PQconninfo(c), *o;
	long long ms = 0;

	for (o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "connect_timeout") && o->val && *o->val) {
			long long s = atoll(o->val);

			/* libpq's rule: below 2 s counts as 2 s */
			ms = s <= 0 ? 0 : (s < 2 ? 2 : s) * 1000;
		}
	PQconninfoFree(opts);
	return ms;
}

/* PQconnectdbParams' loop: poll until the connection is made or failed, or
 * connect_timeout or deadline (time_mono_ms; 0: none) passes (0 returned:
 * timed out). */
static int wait_connected(PGconn *c, long long deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long limit = connect_timeout_ms(c);

	if (limit && (!deadline || time_mono_ms() + limit < deadline))
		deadline = time_mono_ms() + limit;
	for (;;) {
		struct pollfd pfd = { PQsocket(c), 0, 0 };
		int wait = -1;

		if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED || pfd.fd < 0)
			return 1;
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if (deadline) {
			long long left = deadline - time_mono_ms();

			if (left <= 0)
				return 0;
			wait = (int)(left > 1000000 ? 1000000 : left);
		}
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return 1;
		st = PQconnectPoll(c);
	}
}

/* A verbose libpq message's SQLSTATE ("FATAL:  53300: sorry, ..."; the
 * severity is translated, the code is not) into sqlstate, taken out of
 * msg with the LOCATION line the verbose form adds. */
static void take_sqlstate(struct strbuf *msg, char sqlstate[6])
{
	char *p = msg->buf, *loc;
	size_t i;

	for (; (p = strstr(p, ":  ")); p++) {
		for (i = 0; i < 5 && ((p[3 + i] >= '0' && p[3 + i] <= '9') ||
				      (p[3 + i] >= 'A' && p[3 + i] <= 'Z')); i++)
			;
		if (i == 5 && p[8] == ':' && p[9] == ' ') {
			memcpy(sqlstate, p + 3, 5);
			sqlstate[5] = '\0';
			memmove(p + 3, p + 10, strlen(p + 10) + 1);
			msg->len -= 7;
			break;
		}
	}
	while ((loc = strstr(msg->buf, "\nLOCATION:"))) {
		char *end = strchr(loc + 1, '\n');
		size_t cut = end ? (size_t)(end - loc) : strlen(loc);

		memmove(loc, loc + cut, strlen(loc + cut) + 1);
		msg->len -= cut;
	}
}

/* PQconninfoParse with libpq's message made one line (it ends in a
 * newline) and ours around it. */
static PQconninfoOption *parse_conninfo(const char *conninfo, struct errbuf *e)
{
	PQconninfoOption *opts;
	char *err = NULL;
	size_t n;

	opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		n = err ? strlen(err) : 0;
		while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
		errbuf_set(e, BL_EUSAGE, "pg: bad connection string: %s", n ? err : "cannot parse");
	}
	PQfreemem(err);
	return opts;
}

/* pg_connect, until deadline (0: connect_timeout only); sqlstate (if not
 * NULL) as pg_connect_until says. */
static int connect_until(const char *conninfo, const char *password, long long deadline,
			 PGconn **out, char sqlstate[6], struct errbuf *e)
{
	const char *keys[] = { "dbname", "password", "fallback_application_name", NULL };
	const char *vals[] = { effective_conninfo(conninfo), password, "ballast", NULL };
	struct strbuf who = STRBUF_INIT;
	PQconninfoOption *opts;
	PGconn *c;
	int rc = 0;

	*out = NULL;
	if (sqlstate)
		sqlstate[0] = '\0';
	opts = parse_conninfo(vals[0], e);
	if (!opts)
		return e->code;
	PQconninfoFree(opts);
	if (!password || !*password) {
		keys[1] = "fallback_application_name";
		vals[1] = "ballast";
		keys[2] = NULL;
		vals[2] = NULL;
	}
	/* expand_dbname=1: the dbname value may itself be a conninfo or URL.
	 * Started, not connected in one call, so the notice processor is set
	 * before the first message: a server that is shutting down sends a
	 * WARNING during startup, and libpq's default would print it raw on
	 * stderr, outside our one-line errors and --json stream. */
	c = PQconnectStartParams(keys, vals, 1);
	if (!c)
		return errbuf_set(e, BL_EFAIL, "pg: out of memory");
	PQsetNoticeProcessor(c, log_notice, NULL);
	/* the verbose form is the only one whose message carries the SQLSTATE
	 * of a refused connection (libpq keeps its result to itself) */
	if (sqlstate)
		PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
	if (PQstatus(c) != CONNECTION_BAD && !wait_connected(c, deadline)) {
		pg_describe_conninfo(conninfo, &who);
		rc = errbuf_set(e, BL_EFAIL, "cannot connect to %s: timeout expired", who.buf);
		PQfinish(c);
		goto out;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		struct strbuf msg = STRBUF_INIT;

		pg_describe_conninfo(conninfo, &who);
		strbuf_addstr(&msg, PQerrorMessage(c));
		if (sqlstate)
			take_sqlstate(&msg, sqlstate);
		strbuf_rtrim(&msg);
		for (size_t i = 0; i < msg.len; i++)
			if (msg.buf[i] == '\n')
				msg.buf[i] = ' ';
		rc = errbuf_set(e, BL_EFAIL, "cannot connect to %s: %s", who.buf, msg.buf);
		strbuf_release(&msg);
		PQfinish(c);
		goto out;
	}
	PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
	*out = c;
out:
	strbuf_release(&who);
	return rc;
}

int pg_connect(const char *conninfo, const char *password, PGconn **out, struct errbuf *e)
{
	return connect_until(conninfo, password, 0, out, NULL, e);
}

int pg_connect_until(const char *conninfo, const char *password, long long deadline,
		     PGconn **out, char sqlstate[6], struct errbuf *e)
{
	return connect_until(conninfo, password, deadline, out, sqlstate, e);
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

/* 1 when conn's socket is ready (or failed: libpq then says how), 0 at
 * deadline. */
static int wait_socket(PGconn *conn, int out, long long deadline)
{
	struct pollfd pfd = { PQsocket(conn), (short)(POLLIN | (out ? POLLOUT : 0)), 0 };
	long long left;
	int n;

	for (;;) {
		left = deadline - time_mono_ms();
		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
		if (n > 0 || (n < 0 && errno != EINTR))
			return 1;
	}
}

int pg_exec_until(PGconn *conn, const char *sql, long long deadline, PGresult **res,
		  char sqlstate[6], struct errbuf *e)
{
	PGresult *r, *kept = NULL;
	const char *st;
	int pending;

	if (sqlstate)
		sqlstate[0] = '\0';
	if (PQsetnonblocking(conn, 1) || !PQsendQuery(conn, sql))
		return check_result(conn, NULL, sql, res, e);
	for (;;) {
		if ((pending = PQflush(conn)) < 0 || !PQconsumeInput(conn)) {
			PQclear(kept);
			return check_result(conn, NULL, sql, res, e);
		}
		if (PQisBusy(conn)) {
			if (!wait_socket(conn, pending, deadline)) {
				PQclear(kept);
				return errbuf_set(e, BL_EFAIL, "query failed (%.60s%s): no answer in time",
						  sql, strlen(sql) > 60 ? "..." : "");
			}
			continue;
		}
		if (!(r = PQgetResult(conn)))
			break;
		/* the first error wins over what follows it */
		if (kept && PQresultStatus(kept) != PGRES_COMMAND_OK &&
		    PQresultStatus(kept) != PGRES_TUPLES_OK) {
			PQclear(r);
			continue;
		}
		PQclear(kept);
		kept = r;
	}
	PQsetnonblocking(conn, 0);
	if (sqlstate && kept && (st = PQresultErrorField(kept, PG_DIAG_SQLSTATE))) {
		snprintf(sqlstate, 6, "%.5s", st);
	}
	return check_result(conn, kept, sql, res, e);
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

	strbuf_reset(out);
	opts = parse_conninfo(effective_conninfo(conninfo), e);
	if (!opts)
		return e->code;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val;

		if (!strcmp(o->keyword, "dbname"))
			v = dbname;
		if (!v)
			continue;
		pg_conninfo_add(out, o->keyword, v);
	}
	PQconninfoFree(opts);
	return 0;
}

void pg_conninfo_add(struct strbuf *out, const char *key, const char *value)
{
	strbuf_addf(out, "%s%s='", out->len ? " " : "", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			strbuf_addch(out, '\\');
		strbuf_addch(out, *p);
	}
	strbuf_addch(out, '\'');
}

int pg_conninfo_get(const char *conninfo, const char *key, struct strbuf *out)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", NULL);
	int found = 0;

	strbuf_reset(out);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, key) && o->val && *o->val) {
			strbuf_addstr(out, o->val);
			found = 1;
		}
	PQconninfoFree(opts);
	return found;
}

/*
 * pg: libpq helpers shared by the binaries.
 *
 * Contract: pg_connect() takes a conninfo string or a URL (NULL or "" means
 * $DATABASE_URL, else libpq's PG* variables and defaults) and a password
 * that travels as a separate libpq parameter, never inside a string that
 * could be logged. Errors name the server as "user@host:port/dbname" and
 * never include the password. Query helpers turn anything but
 * PGRES_COMMAND_OK/PGRES_TUPLES_OK into a BL_EFAIL line with the server's
 * message.
 */
#ifndef BALLAST_PG_H
#define BALLAST_PG_H

#include <libpq-fe.h>

#include "errbuf.h"
#include "strbuf.h"

int pg_connect(const char *conninfo, const char *password, PGconn **out, struct errbuf *e);
/* pg_connect that gives up at deadline (time_mono_ms; also at the
 * conninfo's connect_timeout) and says why it failed: sqlstate receives
 * the SQLSTATE of a server that refused the connection ("53300": too many
 * connections or WAL senders, "28P01": a wrong password, ...), "" when no
 * server answered (refused, unreachable, timed out: the network). */
int pg_connect_until(const char *conninfo, const char *password, long long deadline,
		     PGconn **out, char sqlstate[6], struct errbuf *e);

/* "postgres@127.0.0.1:5432/app" for messages: no password. */
void pg_describe(PGconn *conn, struct strbuf *out);
/* The same, from a conninfo string without connecting. */
void pg_describe_conninfo(const char *conninfo, struct strbuf *out);

/* Run sql; on success *res (if res) receives the result (PQclear it). */
int pg_exec(PGconn *conn, const char *sql, PGresult **res, struct errbuf *e);
int pg_execf(PGconn *conn, PGresult **res, struct errbuf *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* pg_exec that waits for the answer until deadline (time_mono_ms) only,
 * on a non-blocking socket: a server (or a proxy in between) gone silent is
 * BL_EFAIL "...: no answer in time", and the connection is then unusable
 * (PQfinish it). sqlstate (may be NULL) receives the error's SQLSTATE, ""
 * when the server sent none (no answer, the connection lost). */
int pg_exec_until(PGconn *conn, const char *sql, long long deadline, PGresult **res,
		  char sqlstate[6], struct errbuf *e);
/* Parameterised. */
int pg_execp(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **res,
	     struct errbuf *e);
/* First column of the first row as text ("" for NULL or no rows). */
int pg_value(PGconn *conn, const char *sql, struct strbuf *out, struct errbuf *e);

/* Quote an identifier / literal for SQL (PQescapeIdentifier etc.). */
int pg_quote_ident(PGconn *conn, const char *s, struct strbuf *out);
int pg_quote_literal(PGconn *conn, const char *s, struct strbuf *out);

/* Build a conninfo for the same server but another database (used to
 * create/drop scratch databases): keywords from conninfo, dbname replaced. */
int pg_conninfo_with_db(const char *conninfo, const char *dbname, struct strbuf *out,
			struct errbuf *e);

/* Append "key='value'" to out (a space first unless out is empty), value
 * quoted as libpq reads it: a path or a role name may hold ' or \. */
void pg_conninfo_add(struct strbuf *out, const char *key, const char *value);

/* The value conninfo (as written: no $DATABASE_URL or PG* defaults) gives
 * key, into out; 1 when set and not empty, else 0 and out empty (an
 * unparsable conninfo too: connecting with it reports that). */
int pg_conninfo_get(const char *conninfo, const char *key, struct strbuf *out);

#endif

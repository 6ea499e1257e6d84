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

/* "postgres@127.0.0.1:5432/app" for messages: no password. */
void pg_describe(PGconn *conn, struct strbuf *out);
/* The same, from a conninfo string without connecting. */
void pg_describe_conninfo(const char *conninfo, struct strbuf *out);

/* Run sql; on success *res (if res) receives the result (PQclear it). */
int pg_exec(PGconn *conn, const char *sql, PGresult **res, struct errbuf *e);
int pg_execf(PGconn *conn, PGresult **res, struct errbuf *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
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

#endif
